"""Memory limits: explicit `MemoryLimits`, or the live config's budget and percents."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The guide's defaults, used only when engine.config cannot give a config.
DEFAULT_BUDGET_MB = 3072.0
DEFAULT_SOFT_PERCENT = 0.80
DEFAULT_HARD_PERCENT = 0.93
DEFAULT_EMERGENCY_PERCENT = 0.98
DEFAULT_MAX_LOADED_FILES = 1000
DEFAULT_MAX_CACHED_QUERIES = 500
DEFAULT_MAX_SPILL_MB = 1000.0
DEFAULT_INTERVAL_SECONDS = 30.0


@dataclass(frozen=True)
class MemoryLimits:
    """Explicit limits in MB; when given to a MemoryManager they win over the config.

    Only the soft and hard limits are required (as in the guide); the emergency limit and the
    budget default to the config's percents applied to a budget of `hard_limit_mb / hard%`.
    """

    soft_limit_mb: float
    hard_limit_mb: float
    emergency_limit_mb: float | None = None
    total_budget_mb: float | None = None
    max_loaded_files: int | None = None
    max_cached_queries: int | None = None

    def __post_init__(self) -> None:
        if not self.soft_limit_mb > 0:
            raise ValueError(f"soft_limit_mb must be > 0 (got {self.soft_limit_mb})")
        if not self.soft_limit_mb < self.hard_limit_mb:
            raise ValueError(
                f"soft_limit_mb ({self.soft_limit_mb}) must be below "
                f"hard_limit_mb ({self.hard_limit_mb})"
            )
        if self.emergency_limit_mb is not None and self.emergency_limit_mb < self.hard_limit_mb:
            raise ValueError(
                f"emergency_limit_mb ({self.emergency_limit_mb}) must not be below "
                f"hard_limit_mb ({self.hard_limit_mb})"
            )
        if self.total_budget_mb is not None and self.total_budget_mb < self.hard_limit_mb:
            raise ValueError(
                f"total_budget_mb ({self.total_budget_mb}) must not be below "
                f"hard_limit_mb ({self.hard_limit_mb})"
            )


@dataclass(frozen=True)
class ResolvedLimits:
    """The limits in force right now, all in MB, with where they came from."""

    budget_mb: float
    soft_mb: float
    hard_mb: float
    emergency_mb: float
    max_loaded_files: int
    max_cached_queries: int
    source: str  # "explicit" or "config"

    @property
    def soft_percent(self) -> float:
        return self.soft_mb / self.budget_mb

    @property
    def hard_percent(self) -> float:
        return self.hard_mb / self.budget_mb

    @property
    def emergency_percent(self) -> float:
        return self.emergency_mb / self.budget_mb


def live_memory_config() -> Any | None:
    """The live config's `memory` section, or None if engine.config is unavailable or broken."""
    try:
        from engine.config import get_config
    except ImportError:
        return None
    try:
        return get_config().memory
    except Exception as error:  # a broken config must not stop memory management
        log.warning("memory limits fall back to the guide's defaults: %s", error)
        return None


def resolve_limits(explicit: MemoryLimits | None, memory: Any | None = None) -> ResolvedLimits:
    """Explicit limits if given, else the config's (or the guide's defaults)."""
    if memory is None:
        memory = live_memory_config()
    budget = float(getattr(memory, "total_budget_mb", DEFAULT_BUDGET_MB))
    soft_pct = float(getattr(memory, "soft_limit_percent", DEFAULT_SOFT_PERCENT))
    hard_pct = float(getattr(memory, "hard_limit_percent", DEFAULT_HARD_PERCENT))
    emergency_pct = float(getattr(memory, "emergency_percent", DEFAULT_EMERGENCY_PERCENT))
    max_files = int(getattr(memory, "max_loaded_files", DEFAULT_MAX_LOADED_FILES))
    max_queries = int(getattr(memory, "max_cached_queries", DEFAULT_MAX_CACHED_QUERIES))
    if explicit is None:
        return ResolvedLimits(
            budget_mb=budget,
            soft_mb=budget * soft_pct,
            hard_mb=budget * hard_pct,
            emergency_mb=budget * emergency_pct,
            max_loaded_files=max_files,
            max_cached_queries=max_queries,
            source="config",
        )
    explicit_budget = explicit.total_budget_mb or explicit.hard_limit_mb / hard_pct
    emergency = explicit.emergency_limit_mb or max(
        explicit_budget * emergency_pct, explicit.hard_limit_mb
    )
    return ResolvedLimits(
        budget_mb=max(explicit_budget, emergency),
        soft_mb=float(explicit.soft_limit_mb),
        hard_mb=float(explicit.hard_limit_mb),
        emergency_mb=float(emergency),
        max_loaded_files=explicit.max_loaded_files or max_files,
        max_cached_queries=explicit.max_cached_queries or max_queries,
        source="explicit",
    )


@dataclass(frozen=True)
class SpillSettings:
    """Where and how much may be spilled."""

    enabled: bool
    directory: Path
    max_bytes: int


def leindex_home() -> Path:
    """$LEINDEX_HOME or ~/.leindex (engine.config's answer when it is available)."""
    try:
        from engine.config import leindex_home as config_home

        return Path(config_home())
    except ImportError:
        return Path(os.environ.get("LEINDEX_HOME") or "~/.leindex").expanduser()


def spill_settings(memory: Any | None = None) -> SpillSettings:
    """The live spill settings (directory expanded, size in bytes)."""
    if memory is None:
        memory = live_memory_config()
    spill = getattr(memory, "spill", None)
    directory = getattr(spill, "directory", None) or leindex_home() / "spill"
    max_mb = float(getattr(spill, "max_spill_size_mb", DEFAULT_MAX_SPILL_MB))
    return SpillSettings(
        enabled=bool(getattr(spill, "enabled", True)),
        directory=Path(directory).expanduser(),
        max_bytes=int(max_mb * 1024 * 1024),
    )


@dataclass(frozen=True)
class MonitoringSettings:
    """The live monitoring settings."""

    enabled: bool
    interval_seconds: float
    alert_on_soft_limit: bool
    alert_on_hard_limit: bool
    alert_on_emergency: bool


def monitoring_settings(memory: Any | None = None) -> MonitoringSettings:
    """The live monitoring settings (the guide's defaults without a config)."""
    if memory is None:
        memory = live_memory_config()
    monitoring = getattr(memory, "monitoring", None)
    return MonitoringSettings(
        enabled=bool(getattr(monitoring, "enabled", True)),
        interval_seconds=float(getattr(monitoring, "interval_seconds", DEFAULT_INTERVAL_SECONDS)),
        alert_on_soft_limit=bool(getattr(monitoring, "alert_on_soft_limit", True)),
        alert_on_hard_limit=bool(getattr(monitoring, "alert_on_hard_limit", True)),
        alert_on_emergency=bool(getattr(monitoring, "alert_on_emergency", True)),
    )
