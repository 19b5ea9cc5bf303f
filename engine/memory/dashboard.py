"""Builds the dashboard's one cheap snapshot (`DashboardStatus`) from a MemoryManager.

Cheap means: one /proc/self/status read, O(projects) attribute reads, and the tantivy
mapped figure from a cache refreshed at most once a second (it needs a walk of smaps).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.memory import engine_view
from engine.memory.breakdown import build_breakdown, build_tree
from engine.memory.ejection import EvictionManager
from engine.memory.limits import monitoring_settings
from engine.memory.probe import MB
from engine.memory.seams import ManagedProject
from engine.memory.status import DashboardStatus, ProjectSummary
from engine.memory.thresholds import level_for

if TYPE_CHECKING:
    from engine.memory.manager import MemoryManager

EVICTIONS_SHOWN = 50


def project_summary(project: ManagedProject) -> ProjectSummary:
    """One row of the projects table; memory_mb is the project's accounted bytes in memory."""
    loaded = project.loaded_files
    queries = project.query_cache
    memory = loaded.bytes + queries.bytes + engine_view.vector_bytes(project)
    progress = getattr(project, "progress", None)
    ready = getattr(project, "ready", None)
    return ProjectSummary(
        name=project.name,
        path=str(project.path),
        priority=engine_view.priority_of(project).name,
        loaded_files=len(loaded),
        cached_queries=len(queries),
        memory_mb=round(memory / MB, 2),
        last_accessed=float(getattr(project, "last_accessed", 0.0)),
        indexed=bool(ready.is_set()) if ready is not None else True,
        files_done=int(getattr(progress, "files_done", 0) or 0),
        files_total=int(getattr(progress, "files_total", 0) or 0),
        vectors_loaded=bool(getattr(project, "vector_index_loaded", True)),
        phase=str(getattr(progress, "phase", "") or ""),
        stage=str(getattr(progress, "stage", "") or ""),
        paused=str(getattr(progress, "paused", "") or ""),
        bytes_done=int(getattr(progress, "bytes_done", 0) or 0),
        vectors_pending=len(getattr(project, "pending_vector_paths", ()) or ()),
        semantic_note=str(getattr(project, "semantic_note", "") or ""),
    )


def build_dashboard_status(manager: MemoryManager) -> DashboardStatus:
    """Snapshot the manager's state for the TUI / MCP status."""
    projects = engine_view.projects_of(manager.engine)
    sample = manager.probe.sample()
    current = manager.tracker.record(sample.rss / MB)
    limits = manager.limits
    totals = engine_view.totals_of(projects)
    tantivy = manager._mapped_cache.get([getattr(p, "index_dir", None) for p in projects])
    breakdown = build_breakdown(sample, totals, tantivy, manager.clock)
    monitor = manager.monitor
    level = monitor.level_tracker.level if monitor.running else level_for(current, limits)
    store = manager.spill_store()
    return DashboardStatus(
        timestamp=manager.clock(),
        level=level.name,
        current_mb=round(current, 1),
        peak_mb=round(manager.tracker.peak_mb, 1),
        budget_mb=limits.budget_mb,
        soft_limit_percent=limits.soft_percent,
        hard_limit_percent=limits.hard_percent,
        emergency_percent=limits.emergency_percent,
        soft_limit_mb=round(limits.soft_mb, 1),
        hard_limit_mb=round(limits.hard_mb, 1),
        emergency_limit_mb=round(limits.emergency_mb, 1),
        loaded_files=totals.loaded_files,
        max_loaded_files=limits.max_loaded_files,
        cached_queries=totals.cached_queries,
        max_cached_queries=limits.max_cached_queries,
        spilled_mb=round(store.usage_bytes() / MB, 2),
        max_spill_mb=round(store.max_bytes / MB, 1),
        monitoring_interval_seconds=(
            monitor.interval_seconds if monitor.running else monitoring_settings().interval_seconds
        ),
        breakdown=build_tree(breakdown),
        rss_history_mb=manager.tracker.history_mb(),
        projects=tuple(project_summary(p) for p in projects),
        evictions=EvictionManager().records()[-EVICTIONS_SHOWN:],
        floor_note=manager.floor.message if manager.floor is not None else "",
    )
