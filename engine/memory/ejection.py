"""Priority-based eviction: free memory by dropping whole projects' in-memory data.

Policy: candidates are the projects whose priority is at most `priority_threshold` (never
CRITICAL, whatever the threshold), not excluded, ordered lowest priority first, then least
recently accessed first. Evicting a project drops its loaded files and query cache and
unloads its vector index from memory; the project stays registered and searchable, its data
coming back from disk on the next access. Eviction stops once the bytes the engine accounted
as released reach the target; the RSS actually freed is measured and reported alongside.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.memory.engine_view import drop_result_parts, eviction_order, priority_of
from engine.memory.probe import MB, MemoryProbe
from engine.memory.seams import ManagedProject
from engine.memory.status import EvictionRecord
from engine.priority import ProjectPriority

logger = logging.getLogger(__name__)

HISTORY_LIMIT = 200
TRIGGERS = ("auto", "key", "mcp", "api")


@dataclass(frozen=True)
class EvictionResult:
    """What an eviction did.

    `evicted_count_mb` is what the engine accounted as released; `freed_mb` is RSS before
    minus after (after GC and returning memory to the OS), measured.
    """

    evicted_count_mb: float
    evicted_projects: list[str] = field(default_factory=list)
    freed_mb: float = 0.0
    duration_seconds: float = 0.0
    target_mb: float = 0.0
    evicted_count: int = 0
    total_candidates: int = 0
    trigger: str = "api"
    target_met: bool = False
    timestamp: float = 0.0

    @property
    def success(self) -> bool:
        """True when the target was met."""
        return self.target_met


def coerce_priority(value: ProjectPriority | str | int) -> ProjectPriority:
    """A ProjectPriority from an enum, a name ("low") or a number (1-4); ValueError if none."""
    if isinstance(value, ProjectPriority):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return ProjectPriority(value)
        except ValueError:
            raise ValueError(f"unknown priority {value!r}; allowed: 1-4") from None
    return ProjectPriority.from_name(str(value))


def evict_projects(
    projects: Iterable[ManagedProject],
    probe: MemoryProbe,
    target_mb: float,
    priority_threshold: ProjectPriority | str = ProjectPriority.LOW,
    excluded_projects: Iterable[str] | None = None,
    trigger: str = "api",
    clock: Callable[[], float] = time.time,
) -> EvictionResult:
    """Evict candidates in policy order until `target_mb` accounted MB are released."""
    if not target_mb > 0:
        raise ValueError(f"target_mb must be > 0 (got {target_mb})")
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}; allowed: {', '.join(TRIGGERS)}")
    threshold = min(coerce_priority(priority_threshold), ProjectPriority.HIGH)
    excluded = set(excluded_projects or ())
    start = time.perf_counter()
    rss_before = probe.rss_bytes()
    candidates = [
        project
        for project in eviction_order(projects)
        if priority_of(project) <= threshold and project.name not in excluded
    ]
    target_bytes = target_mb * MB
    released_bytes = 0
    evicted_entries = 0
    evicted_names: list[str] = []
    for project in candidates:
        if released_bytes >= target_bytes:
            break
        entries, nbytes = drop_result_parts(project.drop_caches())
        unloaded = 0
        if getattr(project, "vector_index_loaded", False):
            try:
                unloaded = int(project.unload_vectors() or 0)
            except OSError as error:
                # A full disk while one project saves must not stop the others' eviction.
                logger.warning(
                    "eviction: project %s kept its vectors, saving them failed: %s",
                    project.name,
                    error,
                )
        if entries or nbytes or unloaded:
            evicted_names.append(project.name)
            evicted_entries += entries + (1 if unloaded else 0)
            released_bytes += nbytes + unloaded
    if evicted_names:
        gc.collect()
        probe.return_memory_to_os()
    result = EvictionResult(
        evicted_count_mb=round(released_bytes / MB, 3),
        evicted_projects=evicted_names,
        freed_mb=round((rss_before - probe.rss_bytes()) / MB, 3),
        duration_seconds=time.perf_counter() - start,
        target_mb=float(target_mb),
        evicted_count=evicted_entries,
        total_candidates=len(candidates),
        trigger=trigger,
        target_met=released_bytes >= target_bytes,
        timestamp=clock(),
    )
    EvictionManager().record(result)
    return result


class EvictionManager:
    """Eviction history, shared by every instance in the process and bounded."""

    _history: deque[EvictionResult] = deque(maxlen=HISTORY_LIMIT)
    _lock = threading.Lock()

    def record(self, result: EvictionResult) -> None:
        """Append one eviction to the process-wide history."""
        with self._lock:
            self._history.append(result)

    def get_history(self) -> list[dict[str, Any]]:
        """Evictions oldest first, as dicts (timestamp, evicted_count, total_candidates, ...)."""
        with self._lock:
            results = list(self._history)
        return [_history_entry(result) for result in results]

    def records(self) -> tuple[EvictionRecord, ...]:
        """The history as the dashboard's EvictionRecord values, oldest first."""
        with self._lock:
            results = list(self._history)
        return tuple(
            EvictionRecord(
                timestamp=r.timestamp,
                trigger=r.trigger,
                target_mb=r.target_mb,
                freed_mb=r.freed_mb,
                evicted_count_mb=r.evicted_count_mb,
                evicted_count=r.evicted_count,
                total_candidates=r.total_candidates,
                evicted_projects=tuple(r.evicted_projects),
                duration_seconds=r.duration_seconds,
            )
            for r in results
        )

    def clear_history(self) -> None:
        """Forget every recorded eviction."""
        with self._lock:
            self._history.clear()

    def emergency_eviction(
        self,
        target_mb: float,
        priority_threshold: ProjectPriority = ProjectPriority.LOW,
        excluded_projects: list[str] | None = None,
    ) -> EvictionResult:
        """Same as the module-level `emergency_eviction`."""
        return emergency_eviction(target_mb, priority_threshold, excluded_projects)


def _history_entry(result: EvictionResult) -> dict[str, Any]:
    entry = asdict(result)
    entry["evicted_projects"] = list(result.evicted_projects)
    return entry


def emergency_eviction(
    target_mb: float,
    priority_threshold: ProjectPriority = ProjectPriority.LOW,
    excluded_projects: list[str] | None = None,
) -> EvictionResult:
    """Perform emergency eviction to free memory, on the process's memory manager."""
    from engine.memory.manager import get_memory_manager

    return get_memory_manager().evict(
        target_mb, priority_threshold, excluded_projects, trigger="api"
    )
