"""LeIndex engine: code search (tantivy + hnswlib) managed inside a memory budget."""

from importlib.metadata import PackageNotFoundError, version

try:  # the one place the version lives is pyproject.toml
    __version__ = version("leindex-tui")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
