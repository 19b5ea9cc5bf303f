"""Memory operations of the API: diagnostics, manage_memory and the dashboard snapshot.

Responses of `get_diagnostics(type="memory")`, `manage_memory("cleanup")` and
`manage_memory("configure")` are the guide's JSON, field for field.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from engine.api.errors import ApiError
from engine.memory import EvictionManager, get_memory_manager
from engine.memory.dashboard import project_summary
from engine.memory.ejection import TRIGGERS, coerce_priority
from engine.memory.status import DashboardStatus

DIAGNOSTIC_TYPES = ("memory", "eviction", "config", "projects")
MEMORY_ACTIONS = ("cleanup", "configure", "spill", "evict", "gc", "status")


def _mb(value: float) -> float:
    return round(float(value), 1)


def _limit_number(value: float) -> float | int:
    """MB as the guide prints them: whole numbers without a fraction."""
    value = round(float(value), 1)
    return int(value) if value.is_integer() else value


def get_diagnostics(type: str = "memory") -> dict[str, Any]:  # "type" is the MCP argument name
    """Diagnostics of one kind: memory, eviction (history), config (with sources), projects."""
    if type not in DIAGNOSTIC_TYPES:
        raise ApiError(f"unknown diagnostics type {type!r}; allowed: {', '.join(DIAGNOSTIC_TYPES)}")
    if type == "memory":
        return _memory_diagnostics()
    if type == "eviction":
        history = EvictionManager().get_history()
        return {"evictions": history, "count": len(history)}
    if type == "config":
        return _config_diagnostics()
    manager = get_memory_manager()
    engine = manager.engine
    projects = [] if engine is None else list(engine.registry.list())
    return {"projects": [asdict(project_summary(p)) for p in projects]}


def _memory_diagnostics() -> dict[str, Any]:
    manager = get_memory_manager()
    status = manager.get_status()
    breakdown = manager.get_breakdown()
    report = {
        "timestamp": status.timestamp,
        "process_memory_mb": _mb(status.current_mb),
        "peak_memory_mb": _mb(max(status.peak_mb, status.current_mb)),
        "heap_size_mb": _mb(status.heap_size_mb),
        "gc_objects": status.gc_objects,
        "active_threads": status.active_threads,
        "loaded_files": status.loaded_files,
        "cached_queries": status.cached_queries,
        "soft_limit_exceeded": status.soft_limit_exceeded,
        "hard_limit_exceeded": status.hard_limit_exceeded,
        "memory_breakdown": breakdown.as_guide_dict(),
    }
    floor = manager.floor
    if floor is not None:  # beyond the guide's fields, present only when it applies
        report["budget_below_floor"] = floor.as_dict()
    return report


def _config_diagnostics() -> dict[str, Any]:
    from engine.config import get_reload_manager

    reload_manager = get_reload_manager()
    loaded = reload_manager.loaded
    error = reload_manager.last_error
    return {
        "config": loaded.config.model_dump(mode="json"),
        "sources": dict(loaded.sources),
        "warnings": [str(warning) for warning in loaded.warnings],
        "files": [str(path) for path in loaded.files],
        "overrides": reload_manager.overrides,
        "error": None if error is None else str(error),
    }


def manage_memory(
    action: str,
    soft_limit_mb: float | None = None,
    hard_limit_mb: float | None = None,
    target_mb: float | None = None,
    priority_threshold: str = "LOW",
    excluded_projects: list[str] | None = None,
    trigger: str = "api",
) -> dict[str, Any]:
    """Run one memory action: cleanup, configure, spill, evict, gc or status."""
    if action not in MEMORY_ACTIONS:
        raise ApiError(f"unknown action {action!r}; allowed: {', '.join(MEMORY_ACTIONS)}")
    if trigger not in TRIGGERS:
        raise ApiError(f"unknown trigger {trigger!r}; allowed: {', '.join(TRIGGERS)}")
    manager = get_memory_manager()
    if action == "cleanup":
        result = manager.cleanup_detailed()
        return {
            "success": result.success,
            "freed_mb": _mb(result.freed_mb),
            "duration_seconds": round(result.duration_seconds, 3),
            "cleanup_details": {
                "gc_objects_collected": result.gc_objects_collected,
                "cache_entries_cleared": result.cache_entries_cleared,
                "files_unloaded": result.files_unloaded,
            },
        }
    if action == "configure":
        return _configure(manager, soft_limit_mb, hard_limit_mb)
    if action == "spill":
        spill = manager.spill_caches(trigger=trigger)
        return {
            "success": spill.success,
            "entries_spilled": spill.entries_spilled,
            "bytes_written": spill.bytes_written,
            "accounted_freed_mb": _mb(spill.accounted_freed_mb),
            "freed_mb": _mb(spill.freed_mb),
            "duration_seconds": round(spill.duration_seconds, 3),
            "projects": list(spill.projects),
            "errors": list(spill.errors),
        }
    if action == "evict":
        return _evict(manager, target_mb, priority_threshold, excluded_projects, trigger)
    if action == "gc":
        gc_result = manager.collect_garbage()
        return {
            "success": gc_result.success,
            "gc_objects_collected": gc_result.gc_objects_collected,
            "freed_mb": _mb(gc_result.freed_mb),
            "duration_seconds": round(gc_result.duration_seconds, 3),
        }
    status = manager.get_status()
    payload = asdict(status)
    payload["level"] = status.level.name
    return payload


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(f"{name} must be a number of MB (got {value!r})")
    if not math.isfinite(value) or value <= 0:
        raise ApiError(f"{name} must be a positive number of MB (got {value!r})")
    return float(value)


def _configure(manager: Any, soft: float | None, hard: float | None) -> dict[str, Any]:
    from engine.config import get_config, get_reload_manager

    if soft is None and hard is None:
        raise ApiError("configure needs soft_limit_mb and/or hard_limit_mb")
    memory = get_config().memory
    previous = {"soft_limit_mb": memory.soft_limit_mb, "hard_limit_mb": memory.hard_limit_mb}
    new_soft = previous["soft_limit_mb"] if soft is None else _number("soft_limit_mb", soft)
    new_hard = previous["hard_limit_mb"] if hard is None else _number("hard_limit_mb", hard)
    budget = memory.total_budget_mb
    if new_soft >= new_hard:
        raise ApiError(f"soft_limit_mb ({new_soft:g}) must be below hard_limit_mb ({new_hard:g})")
    if new_hard > memory.emergency_limit_mb:
        raise ApiError(
            f"hard_limit_mb ({new_hard:g}) must not be above the emergency limit "
            f"({memory.emergency_limit_mb:g} MB = {memory.emergency_percent:.0%} of "
            f"total_budget_mb {budget:g})"
        )
    overrides: dict[str, float] = {}
    if soft is not None:
        overrides["soft_limit_mb"] = new_soft
    if hard is not None:
        overrides["hard_limit_mb"] = new_hard
    result = get_reload_manager().apply_overrides(overrides)
    if not result.success:
        raise ApiError(f"configure rejected: {result.error}")
    live = get_config().memory
    manager.on_config_reloaded(None)
    return {
        "success": True,
        "previous_limits": {k: _limit_number(v) for k, v in previous.items()},
        "new_limits": {
            "soft_limit_mb": _limit_number(live.soft_limit_mb),
            "hard_limit_mb": _limit_number(live.hard_limit_mb),
        },
    }


def _evict(
    manager: Any,
    target_mb: Any,
    priority_threshold: Any,
    excluded_projects: Any,
    trigger: str,
) -> dict[str, Any]:
    if target_mb is None:
        raise ApiError("evict needs target_mb (the MB to free)")
    target = _number("target_mb", target_mb)
    try:
        threshold = coerce_priority(priority_threshold)
    except ValueError as error:
        raise ApiError(f"priority_threshold: {error}") from None
    if excluded_projects is not None and (
        isinstance(excluded_projects, str)
        or not all(isinstance(name, str) for name in excluded_projects)
    ):
        raise ApiError("excluded_projects must be a list of project names")
    result = manager.evict(target, threshold, list(excluded_projects or ()), trigger)
    return {
        # success means the eviction ran; whether it freed all that was asked is target_met
        # (it may not, when the rest is CRITICAL, excluded or above the priority threshold).
        "success": True,
        "target_met": result.target_met,
        "target_mb": result.target_mb,
        "evicted_count_mb": _mb(result.evicted_count_mb),
        "freed_mb": _mb(result.freed_mb),
        "evicted_projects": list(result.evicted_projects),
        "evicted_count": result.evicted_count,
        "total_candidates": result.total_candidates,
        "duration_seconds": round(result.duration_seconds, 3),
        "trigger": result.trigger,
    }


def dashboard_status() -> DashboardStatus:
    """The dashboard's snapshot (the dataclass itself: the TUI reads it every tick)."""
    return get_memory_manager().get_dashboard_status()
