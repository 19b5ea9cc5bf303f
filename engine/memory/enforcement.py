"""Limit enforcement: which actions run at which level, and how far they go.

SOFT runs cleanup, HARD spills the caches, EMERGENCY evicts everything up to HIGH
priority (never CRITICAL). Each step runs until usage is back under the limit of the level
found (less a 2% margin) and at least the guide's 5% / 10% / 15% of the budget is freed.
A level runs only its own action (the guide's ladder): SOFT never spills or evicts, HARD
never evicts; the next step runs only when the monitor finds the next level itself reached.
Callbacks run after the action lock is released.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.memory.cleanup import run_cleanup
from engine.memory.ejection import evict_projects
from engine.memory.monitoring import CallbackList
from engine.memory.probe import MB
from engine.memory.thresholds import ThresholdLevel, level_for, limit_for
from engine.priority import ProjectPriority

if TYPE_CHECKING:
    from engine.memory.manager import MemoryManager

# Enforcement aims this far (fraction of the budget) below the limit it acts on, so the
# next tick does not find usage right back at the limit.
ENFORCE_MARGIN = 0.02
# The guide's targets: free at least 5% (SOFT), 10% (HARD), 15% (EMERGENCY) of the budget.
MINIMUM_FREE_FRACTION = {
    ThresholdLevel.SOFT: 0.05,
    ThresholdLevel.HARD: 0.10,
    ThresholdLevel.EMERGENCY: 0.15,
}


def enforce(manager: MemoryManager, current_mb: float, trigger: str) -> dict[str, Any]:
    """Run the actions `current_mb` calls for on `manager`; return what was done."""
    limits = manager.limits
    level = level_for(current_mb, limits)
    outcome: dict[str, Any] = {
        "level": level.name,
        "initial_mb": current_mb,
        "actions": [],
        "final_mb": current_mb,
        "final_level": level.name,
        "freed_mb": 0.0,
        "freed_accounted_mb": 0.0,
    }
    if level is ThresholdLevel.NORMAL:
        return outcome
    goal_mb = min(
        limit_for(level, limits) - limits.budget_mb * ENFORCE_MARGIN,
        current_mb - limits.budget_mb * MINIMUM_FREE_FRACTION[level],
    )
    steps = {
        ThresholdLevel.SOFT: ("cleanup",),
        ThresholdLevel.HARD: ("spill",),
        ThresholdLevel.EMERGENCY: ("evict",),
    }[level]
    fired: list[tuple[CallbackList, Any]] = []
    with manager._action_lock:
        now_mb = current_mb
        for step in steps:
            need_bytes = (now_mb - goal_mb) * MB
            if need_bytes <= 0:
                break
            result = _run_step(manager, step, need_bytes, trigger)
            fired.append(_callbacks_for(manager, step, result))
            now_mb = manager.probe.rss_bytes() / MB
            outcome["actions"].append(
                {
                    "action": step,
                    "freed_mb": round(getattr(result, "freed_mb", 0.0), 3),
                    "accounted_mb": _accounted_mb(result),
                    "rss_after_mb": round(now_mb, 1),
                }
            )
            outcome["freed_accounted_mb"] += _accounted_mb(result)
    manager.tracker.record(now_mb)
    outcome["final_mb"] = now_mb
    outcome["final_level"] = level_for(now_mb, limits).name
    outcome["freed_mb"] = round(current_mb - now_mb, 3)
    for callbacks, result in fired:
        callbacks.fire(result)
    return outcome


def _run_step(manager: MemoryManager, step: str, need_bytes: float, trigger: str) -> Any:
    projects = manager._projects()
    if step == "cleanup":
        return run_cleanup(projects, manager.probe, 0.5, target_bytes=need_bytes)
    if step == "spill":
        return manager._spill_locked(projects, need_bytes, trigger)
    return evict_projects(
        projects,
        manager.probe,
        need_bytes / MB,
        ProjectPriority.HIGH,
        trigger=trigger,
        clock=manager.clock,
    )


def _callbacks_for(manager: MemoryManager, step: str, result: Any) -> tuple[CallbackList, Any]:
    if step == "cleanup":
        return manager.cleanup_callbacks, result
    if step == "spill":
        return manager.spill_callbacks, result
    return CallbackList("none"), result


def _accounted_mb(result: Any) -> float:
    value = getattr(result, "accounted_freed_mb", None)
    if value is None:
        value = getattr(result, "evicted_count_mb", 0.0)
    return float(value or 0.0)
