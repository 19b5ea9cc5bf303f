"""How the memory manager reads and drives the engine (the seams of docs/internals.md).

Kept in one place so the manager, cleanup, spill and eviction code never reach into
engine internals on their own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from engine.memory.seams import DroppedEntries, ManagedEngine, ManagedProject
from engine.priority import ProjectPriority

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineTotals:
    """Counts and accounted bytes summed over every project."""

    loaded_files: int = 0
    cached_queries: int = 0
    loaded_content_bytes: int = 0
    query_cache_bytes: int = 0
    vector_index_bytes: int = 0
    projects: int = 0


def default_engine() -> ManagedEngine | None:
    """The process's engine (engine.index.get_engine()), or None if there is none."""
    try:
        from engine.index import get_engine
    except ImportError:
        return None
    try:
        return get_engine()
    except Exception as error:  # memory management must keep working without an engine
        log.warning("no engine available to manage: %s", error)
        return None


def projects_of(engine: ManagedEngine | None) -> list[ManagedProject]:
    """The engine's projects (empty without an engine)."""
    if engine is None:
        return []
    return list(engine.registry.list())


def priority_of(project: ManagedProject) -> ProjectPriority:
    """A project's priority as a ProjectPriority (MEDIUM if it has none)."""
    value = getattr(project, "priority", ProjectPriority.MEDIUM)
    if isinstance(value, ProjectPriority):
        return value
    try:
        return ProjectPriority.from_name(getattr(value, "name", value))
    except ValueError:
        return ProjectPriority.MEDIUM


def eviction_order(projects: Iterable[ManagedProject]) -> list[ManagedProject]:
    """Lowest priority first, then least recently accessed first."""
    return sorted(projects, key=lambda p: (priority_of(p), getattr(p, "last_accessed", 0.0)))


def vector_bytes(project: ManagedProject) -> int:
    """Bytes of the project's in-memory vector index (0 when unloaded)."""
    if not getattr(project, "vector_index_loaded", True):
        return 0
    value = getattr(project, "vector_bytes", None)
    if value is None:
        return 0
    return int(value() if callable(value) else value)


def totals(engine: ManagedEngine | None) -> EngineTotals:
    """Counts and accounted bytes across projects (cheap: O(number of projects))."""
    return totals_of(projects_of(engine))


def drop_result_parts(result: DroppedEntries | int | None) -> tuple[int, int]:
    """(entries, bytes) of a DropResult (or an int of bytes)."""
    if result is None:
        return 0, 0
    if isinstance(result, int):
        return 0, result
    return int(getattr(result, "entries", 0)), int(getattr(result, "bytes", 0))


def totals_of(projects: Iterable[ManagedProject]) -> EngineTotals:
    """`totals` over an already listed set of projects."""
    loaded = queries = content = query_bytes = vectors = count = 0
    for project in projects:
        count += 1
        loaded += len(project.loaded_files)
        queries += len(project.query_cache)
        content += int(project.loaded_files.bytes)
        query_bytes += int(project.query_cache.bytes)
        vectors += vector_bytes(project)
    return EngineTotals(loaded, queries, content, query_bytes, vectors, count)
