"""The search engine: projects, their full-text and semantic indexes, and their caches.

The names below are imported on first use (PEP 562), so importing one submodule (an indexing
worker process imports only the analysis code) does not load the whole engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "LOADED_FILES": "engine.index.caches",
    "QUERY_CACHE": "engine.index.caches",
    "ByteAccountedLRU": "engine.index.caches",
    "CacheTotals": "engine.index.caches",
    "DropResult": "engine.index.caches",
    "LoadedFileCache": "engine.index.caches",
    "QueryCache": "engine.index.caches",
    "QueryKey": "engine.index.caches",
    "Embedder": "engine.index.embed",
    "HashingEmbedder": "engine.index.embed",
    "Engine": "engine.index.engine",
    "get_engine": "engine.index.engine",
    "set_engine": "engine.index.engine",
    "QuerySyntaxError": "engine.index.errors",
    "UnknownProjectError": "engine.index.errors",
    "Project": "engine.index.project",
    "ProjectRegistry": "engine.index.registry",
    "SEARCH_MODES": "engine.index.results",
    "IndexProgress": "engine.index.results",
    "SearchHit": "engine.index.results",
    "SearchResponse": "engine.index.results",
    "ProjectPriority": "engine.priority",
    "ProjectSettings": "engine.config",
}

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

if TYPE_CHECKING:
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


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
