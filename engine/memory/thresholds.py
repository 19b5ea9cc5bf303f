"""Threshold levels: which limit the current usage is past, and what to do about it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum

from engine.memory.limits import MemoryLimits, ResolvedLimits, resolve_limits


class ThresholdLevel(Enum):
    """NORMAL < SOFT (cleanup) < HARD (spill) < EMERGENCY (evict); str() is the name."""

    NORMAL = 0
    SOFT = 1
    HARD = 2
    EMERGENCY = 3

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec)

    def __lt__(self, other: ThresholdLevel) -> bool:
        if not isinstance(other, ThresholdLevel):
            return NotImplemented
        return self.value < other.value

    def __le__(self, other: ThresholdLevel) -> bool:
        if not isinstance(other, ThresholdLevel):
            return NotImplemented
        return self.value <= other.value

    def __gt__(self, other: ThresholdLevel) -> bool:
        if not isinstance(other, ThresholdLevel):
            return NotImplemented
        return self.value > other.value

    def __ge__(self, other: ThresholdLevel) -> bool:
        if not isinstance(other, ThresholdLevel):
            return NotImplemented
        return self.value >= other.value


SUGGESTED_ACTIONS = {
    ThresholdLevel.SOFT: "Trigger cleanup and garbage collection (drop old cache entries)",
    ThresholdLevel.HARD: "Spill cached data to disk (query cache, loaded files)",
    ThresholdLevel.EMERGENCY: "Emergency eviction of low-priority data",
}


@dataclass(frozen=True)
class MemoryWarning:
    """One threshold that is exceeded: its level, a message and the suggested action."""

    level: ThresholdLevel
    message: str
    suggested_action: str
    current_value: float = 0.0
    threshold_value: float = 0.0
    kind: str = "memory"  # "memory", "loaded_files" or "cached_queries"


def level_for(current_mb: float, limits: ResolvedLimits) -> ThresholdLevel:
    """The highest level whose limit `current_mb` has reached (no hysteresis)."""
    if current_mb >= limits.emergency_mb:
        return ThresholdLevel.EMERGENCY
    if current_mb >= limits.hard_mb:
        return ThresholdLevel.HARD
    if current_mb >= limits.soft_mb:
        return ThresholdLevel.SOFT
    return ThresholdLevel.NORMAL


def limit_for(level: ThresholdLevel, limits: ResolvedLimits) -> float:
    """The MB value at which `level` starts (0 for NORMAL)."""
    return {
        ThresholdLevel.NORMAL: 0.0,
        ThresholdLevel.SOFT: limits.soft_mb,
        ThresholdLevel.HARD: limits.hard_mb,
        ThresholdLevel.EMERGENCY: limits.emergency_mb,
    }[level]


def check_thresholds(
    current_memory_mb: float,
    budget_mb: float,
    loaded_files: int = 0,
    cached_queries: int = 0,
    *,
    limits: MemoryLimits | ResolvedLimits | None = None,
) -> list[MemoryWarning]:
    """Check all thresholds and return warnings (empty when everything is within limits).

    At most one memory warning is returned: the highest level reached, so that code acting
    on each warning (as the guide's examples do) runs one action, not three. Loaded files and
    cached queries over their caps each add a SOFT warning. Percents and caps come from the
    live config unless `limits` is given; `budget_mb` scales the percents.
    """
    if budget_mb <= 0:
        raise ValueError(f"budget_mb must be > 0 (got {budget_mb})")
    resolved = limits if isinstance(limits, ResolvedLimits) else resolve_limits(limits)
    if isinstance(limits, MemoryLimits):
        soft, hard, emergency = resolved.soft_mb, resolved.hard_mb, resolved.emergency_mb
    else:
        soft = budget_mb * resolved.soft_percent
        hard = budget_mb * resolved.hard_percent
        emergency = budget_mb * resolved.emergency_percent
    scaled = ResolvedLimits(
        budget_mb=budget_mb,
        soft_mb=soft,
        hard_mb=hard,
        emergency_mb=emergency,
        max_loaded_files=resolved.max_loaded_files,
        max_cached_queries=resolved.max_cached_queries,
        source=resolved.source,
    )
    warnings: list[MemoryWarning] = []
    level = level_for(current_memory_mb, scaled)
    if level is not ThresholdLevel.NORMAL:
        threshold = limit_for(level, scaled)
        percent = current_memory_mb / budget_mb * 100
        warnings.append(
            MemoryWarning(
                level=level,
                message=(
                    f"Memory usage {current_memory_mb:.1f} MB is {percent:.1f}% of the "
                    f"{budget_mb:.0f} MB budget, past the {level.name} limit "
                    f"({threshold:.1f} MB, {threshold / budget_mb:.0%})"
                ),
                suggested_action=SUGGESTED_ACTIONS[level],
                current_value=current_memory_mb,
                threshold_value=threshold,
            )
        )
    cap_checks = (
        (loaded_files, scaled.max_loaded_files, "loaded files", "max_loaded_files",
         "Unload the least recently used files (cleanup)", "loaded_files"),
        (cached_queries, scaled.max_cached_queries, "cached queries", "max_cached_queries",
         "Drop the oldest cached queries (cleanup)", "cached_queries"),
    )  # fmt: skip
    for count, cap, noun, cap_key, action, kind in cap_checks:
        if count > cap:
            warnings.append(
                MemoryWarning(
                    level=ThresholdLevel.SOFT,
                    message=f"{count} {noun} exceed {cap_key} ({cap})",
                    suggested_action=action,
                    current_value=float(count),
                    threshold_value=float(cap),
                    kind=kind,
                )
            )
    return warnings


class LevelTracker:
    """Stateful level for monitoring, with hysteresis so the level does not flap.

    The level rises as soon as usage reaches a limit, but falls only once usage is below
    that limit minus `hysteresis_fraction` of the budget (default 2%).
    """

    def __init__(self, hysteresis_fraction: float = 0.02) -> None:
        if not 0 <= hysteresis_fraction < 1:
            raise ValueError("hysteresis_fraction must be in [0, 1)")
        self.hysteresis_fraction = hysteresis_fraction
        self._level = ThresholdLevel.NORMAL
        self._lock = threading.Lock()

    @property
    def level(self) -> ThresholdLevel:
        return self._level

    def update(self, current_mb: float, limits: ResolvedLimits) -> ThresholdLevel:
        """Feed one measurement; return the (possibly unchanged) level."""
        raw = level_for(current_mb, limits)
        margin = limits.budget_mb * self.hysteresis_fraction
        with self._lock:
            level = self._level
            if raw >= level:
                level = raw
            else:
                # Step down one level at a time, each only once clearly below its limit.
                while level > raw and current_mb < limit_for(level, limits) - margin:
                    level = ThresholdLevel(level.value - 1)
            self._level = level
            return level

    def reset(self) -> None:
        with self._lock:
            self._level = ThresholdLevel.NORMAL
