"""The one cheap snapshot the dashboard and the MCP status read each tick."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BreakdownNode:
    """One row of the guide's memory-breakdown tree; `key` is stable so views update in place."""

    key: str
    label: str
    mb: float
    source: str  # "measured" (from /proc), "accounted" (summed by the engine) or "derived"
    children: tuple[BreakdownNode, ...] = ()


@dataclass(frozen=True)
class ProjectSummary:
    name: str
    path: str
    priority: str
    loaded_files: int
    cached_queries: int
    memory_mb: float
    last_accessed: float
    indexed: bool
    files_done: int = 0
    files_total: int = 0
    vectors_loaded: bool = True
    phase: str = ""  # the indexer's phase: pending, scanning, indexing, ready or error
    bytes_done: int = 0  # bytes of files indexed so far (in the current stage)
    stage: str = ""  # while indexing: "full-text", then "semantic"
    paused: str = ""  # why indexing waits for the memory budget ("" when it runs)
    vectors_pending: int = 0  # files in the full-text index whose vectors are not written
    semantic_note: str = ""  # why semantic search is incomplete or unavailable ("" when not)


@dataclass(frozen=True)
class EvictionRecord:
    timestamp: float
    trigger: str  # "auto", "key", "mcp" or "api"
    target_mb: float
    freed_mb: float  # RSS before minus after, measured
    evicted_count_mb: float  # bytes the engine accounted as released
    evicted_count: int  # cache entries and indexes released
    total_candidates: int
    evicted_projects: tuple[str, ...]
    duration_seconds: float


@dataclass(frozen=True)
class DashboardStatus:
    timestamp: float
    level: str  # "NORMAL", "SOFT", "HARD" or "EMERGENCY"
    current_mb: float
    peak_mb: float
    budget_mb: float
    soft_limit_percent: float
    hard_limit_percent: float
    emergency_percent: float
    soft_limit_mb: float
    hard_limit_mb: float
    emergency_limit_mb: float
    loaded_files: int
    max_loaded_files: int
    cached_queries: int
    max_cached_queries: int
    spilled_mb: float
    max_spill_mb: float
    monitoring_interval_seconds: float
    breakdown: BreakdownNode
    rss_history_mb: tuple[float, ...] = ()
    projects: tuple[ProjectSummary, ...] = ()
    evictions: tuple[EvictionRecord, ...] = field(default_factory=tuple)
    # Non-empty while the budget is below the engine's floor (engine.memory.floor).
    floor_note: str = ""
