"""Spilling the engine's caches to disk so that a later access reloads them transparently.

Each spilled entry is one spill file (see spill.py); the cache remembers the key as spilled
and, on a miss, calls the loader set here, which reads the file back and deletes it. If a
spill file is gone (dropped to respect `max_spill_size_mb`) or fails its integrity check,
the loader returns None and the engine recomputes the entry: a slower search, never a
wrong one. Policy: projects lowest priority first, then least recently accessed; CRITICAL
projects are not spilled; with a target, spilling stops once enough bytes are out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field

from engine.memory.engine_view import eviction_order, priority_of
from engine.memory.probe import MB, MemoryProbe
from engine.memory.seams import ManagedCache, ManagedProject
from engine.memory.spill import SpillError, SpillStore
from engine.priority import ProjectPriority

log = logging.getLogger(__name__)

_BATCH = 64  # entries taken out of a cache at a time, so only one batch is in flight


@dataclass(frozen=True)
class SpillResult:
    """What spilling the caches did; `freed_mb` is RSS before minus after, measured."""

    success: bool
    entries_spilled: int = 0
    bytes_written: int = 0
    accounted_freed_mb: float = 0.0
    freed_mb: float = 0.0
    duration_seconds: float = 0.0
    projects: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    trigger: str = "api"

    @property
    def error(self) -> str | None:
        """The errors joined, or None."""
        return "; ".join(self.errors) if self.errors else None


def namespace_for(project: ManagedProject, cache: ManagedCache) -> str:
    """The spill namespace of one cache of one project."""
    return f"{project.path}|{getattr(cache, 'kind', type(cache).__name__)}"


def attach_loader(project: ManagedProject, cache: ManagedCache, store: SpillStore) -> None:
    """Make `cache` reload its spilled keys from `store` on a miss."""
    namespace = namespace_for(project, cache)

    def load_spilled(key: Hashable) -> object | None:
        return store.load_cache_entry(namespace, key)

    def discard_spilled(keys: list[Hashable]) -> None:
        # The cache forgot these keys (invalidated, discarded): their files are stale.
        store.discard_cache_entries(namespace, keys)

    cache.spill_loader = load_spilled
    cache.spill_discarder = discard_spilled


def spill_caches(
    projects: Iterable[ManagedProject],
    store: SpillStore,
    probe: MemoryProbe,
    target_bytes: float | None = None,
    trigger: str = "api",
    release: Callable[[], object] | None = None,
) -> SpillResult:
    """Spill query caches and loaded files of non-CRITICAL projects, in policy order."""
    start = time.perf_counter()
    rss_before = probe.rss_bytes()
    spilled = written = released = 0
    touched: list[str] = []
    errors: list[str] = []
    for project in eviction_order(projects):
        if priority_of(project) >= ProjectPriority.CRITICAL:
            continue
        if target_bytes is not None and released >= target_bytes:
            break
        for cache in (project.query_cache, project.loaded_files):
            if len(cache) == 0:
                continue
            attach_loader(project, cache, store)
            namespace = namespace_for(project, cache)
            bytes_before = cache.bytes
            for _ in range(-(-len(cache) // _BATCH)):
                batch = cache.spill_out(_BATCH)
                if not batch:
                    break
                for key, value in batch:
                    try:
                        record = store.spill_cache_entry(namespace, key, value)
                    except SpillError as error:
                        # The entry is out of memory either way; the engine recomputes it.
                        if len(errors) < 5:
                            errors.append(str(error))
                        continue
                    if not cache.is_spilled(key):
                        # A get, put or invalidate reached the key while its file was being
                        # written (the loader found no file): the file is already stale.
                        store.discard_cache_entry(namespace, key)
                        continue
                    spilled += 1
                    written += record.size_bytes
                del batch
            released += max(0, bytes_before - cache.bytes)
            if project.name not in touched:
                touched.append(project.name)
    if release is not None:
        release()
    return SpillResult(
        success=not errors,
        entries_spilled=spilled,
        bytes_written=written,
        accounted_freed_mb=round(released / MB, 3),
        freed_mb=round((rss_before - probe.rss_bytes()) / MB, 3),
        duration_seconds=time.perf_counter() - start,
        projects=touched,
        errors=errors,
        trigger=trigger,
    )
