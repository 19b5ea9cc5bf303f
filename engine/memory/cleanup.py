"""Cleanup: drop the older half of each cache, collect garbage, give memory back to the OS.

Policy: projects are visited lowest priority first, then least recently accessed first;
CRITICAL projects are never touched. In each project the oldest half (rounded up) of the
query cache and of the loaded files is dropped. With a target, cleanup stops once the
accounted bytes released reach it; without one it visits every project. Dropped entries are
recomputed from disk on their next use, so nothing is lost.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from engine.memory.engine_view import drop_result_parts, eviction_order, priority_of
from engine.memory.probe import MB, MemoryProbe
from engine.memory.seams import ManagedProject
from engine.priority import ProjectPriority


@dataclass(frozen=True)
class CleanupResult:
    """What a cleanup did; `freed_mb` is RSS before minus after, measured."""

    success: bool
    freed_mb: float
    duration_seconds: float
    gc_objects_collected: int
    cache_entries_cleared: int
    files_unloaded: int
    accounted_freed_mb: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class GcResult:
    """What a garbage collection did."""

    success: bool
    gc_objects_collected: int
    freed_mb: float
    duration_seconds: float
    returned_to_os: bool


def drop_old_entries(
    projects: Iterable[ManagedProject], fraction: float = 0.5, target_bytes: float | None = None
) -> tuple[int, int, int]:
    """Drop the oldest `fraction` of each non-CRITICAL project's caches, in policy order.

    Returns (query entries dropped, loaded files dropped, accounted bytes released).
    """
    queries_dropped = files_dropped = released = 0
    for project in eviction_order(projects):
        if priority_of(project) >= ProjectPriority.CRITICAL:
            continue
        if target_bytes is not None and released >= target_bytes:
            break
        for cache, is_files in ((project.query_cache, False), (project.loaded_files, True)):
            count = len(cache)
            if count == 0:
                continue
            entries, nbytes = drop_result_parts(cache.drop_oldest(_portion(count, fraction)))
            released += nbytes
            if is_files:
                files_dropped += entries
            else:
                queries_dropped += entries
    return queries_dropped, files_dropped, released


def _portion(count: int, fraction: float) -> int:
    return min(count, max(1, math.ceil(count * fraction)))


def release_memory(probe: MemoryProbe) -> tuple[int, bool]:
    """Run a full GC and return free memory to the OS; (objects collected, trimmed)."""
    collected = gc.collect()
    return collected, probe.return_memory_to_os()


def run_cleanup(
    projects: Iterable[ManagedProject],
    probe: MemoryProbe,
    fraction: float = 0.5,
    target_bytes: float | None = None,
) -> CleanupResult:
    """Drop old cache entries, collect garbage, return memory; measure what RSS fell by."""
    start = time.perf_counter()
    rss_before = probe.rss_bytes()
    queries, files, released = drop_old_entries(projects, fraction, target_bytes)
    collected, _trimmed = release_memory(probe)
    return CleanupResult(
        success=True,
        freed_mb=round((rss_before - probe.rss_bytes()) / MB, 3),
        duration_seconds=time.perf_counter() - start,
        gc_objects_collected=collected,
        cache_entries_cleared=queries,
        files_unloaded=files,
        accounted_freed_mb=round(released / MB, 3),
    )


def run_gc(probe: MemoryProbe) -> GcResult:
    """Only a garbage collection and a return of free memory to the OS."""
    start = time.perf_counter()
    rss_before = probe.rss_bytes()
    collected, trimmed = release_memory(probe)
    return GcResult(
        success=True,
        gc_objects_collected=collected,
        freed_mb=round((rss_before - probe.rss_bytes()) / MB, 3),
        duration_seconds=time.perf_counter() - start,
        returned_to_os=trimmed,
    )
