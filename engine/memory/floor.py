"""The engine's floor: RSS with nothing left to free, and what to say when the budget is below it.

When a limit is passed, enforcement has run, nothing was released and nothing evictable is
left, the RSS measured then is the floor: what the engine needs for its code, interpreter,
open indexes and CRITICAL projects. A budget whose limits sit under it cannot be held by
freeing memory, so this is reported once (log, alert, dashboard, diagnostics) and the
monitor stops repeating empty passes until there is something to free again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine.memory import engine_view
from engine.memory.limits import ResolvedLimits
from engine.memory.seams import ManagedProject
from engine.memory.thresholds import ThresholdLevel, limit_for
from engine.priority import ProjectPriority

# Round a suggested budget up to this many MB.
_SUGGESTION_STEP_MB = 32


@dataclass(frozen=True)
class FloorReport:
    """The measured floor and the limit it sits above."""

    floor_mb: float
    level: str
    limit_mb: float
    budget_mb: float
    suggested_budget_mb: int
    timestamp: float

    @property
    def message(self) -> str:
        return (
            f"memory budget {self.budget_mb:.0f} MB is too small: the engine's floor "
            f"({self.floor_mb:.1f} MB, measured with nothing left to free) is above the "
            f"{self.level} limit ({self.limit_mb:.0f} MB); raise memory.total_budget_mb "
            f"to at least {self.suggested_budget_mb}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "floor_mb": round(self.floor_mb, 1),
            "level": self.level,
            "limit_mb": round(self.limit_mb, 1),
            "budget_mb": round(self.budget_mb, 1),
            "suggested_budget_mb": self.suggested_budget_mb,
            "timestamp": self.timestamp,
            "message": self.message,
        }


def freeable_bytes(projects: Iterable[ManagedProject]) -> int:
    """Accounted bytes enforcement could still release (everything but CRITICAL projects)."""
    total = 0
    for project in projects:
        total += int(project.loaded_files.bytes) + int(project.query_cache.bytes)
        if engine_view.priority_of(project) < ProjectPriority.CRITICAL:
            total += engine_view.vector_bytes(project)
    return total


def floor_report(
    floor_mb: float, level: ThresholdLevel, limits: ResolvedLimits, timestamp: float
) -> FloorReport:
    """The report for a floor measured above `level`'s limit."""
    # Enough that the floor sits under the soft limit, and more than the budget now.
    wanted = max(floor_mb / max(limits.soft_mb / limits.budget_mb, 0.01), limits.budget_mb + 1)
    suggested = int(math.ceil(wanted / _SUGGESTION_STEP_MB) * _SUGGESTION_STEP_MB)
    return FloorReport(
        floor_mb=floor_mb,
        level=level.name,
        limit_mb=limit_for(level, limits),
        budget_mb=limits.budget_mb,
        suggested_budget_mb=suggested,
        timestamp=timestamp,
    )
