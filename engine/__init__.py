"""LeIndex engine: code search (tantivy + hnswlib) managed inside a memory budget."""

__version__ = "0.1.0"
