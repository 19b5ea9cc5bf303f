"""The search engine: projects, their full-text and semantic indexes, and their caches."""

from engine.config import ProjectSettings
from engine.index.caches import (
    LOADED_FILES,
    QUERY_CACHE,
    ByteAccountedLRU,
    CacheTotals,
    DropResult,
    LoadedFileCache,
    QueryCache,
    QueryKey,
)
from engine.index.embed import Embedder, HashingEmbedder
from engine.index.engine import Engine, get_engine, set_engine
from engine.index.errors import QuerySyntaxError, UnknownProjectError
from engine.index.project import Project
from engine.index.registry import ProjectRegistry
from engine.index.results import SEARCH_MODES, IndexProgress, SearchHit, SearchResponse
from engine.priority import ProjectPriority

__all__ = [
    "LOADED_FILES",
    "QUERY_CACHE",
    "SEARCH_MODES",
    "ByteAccountedLRU",
    "CacheTotals",
    "DropResult",
    "Embedder",
    "Engine",
    "HashingEmbedder",
    "IndexProgress",
    "LoadedFileCache",
    "Project",
    "ProjectPriority",
    "ProjectRegistry",
    "ProjectSettings",
    "QueryCache",
    "QueryKey",
    "QuerySyntaxError",
    "SearchHit",
    "SearchResponse",
    "UnknownProjectError",
    "get_engine",
    "set_engine",
]
