"""Point-in-time readings the MemoryManager returns: MemorySnapshot and MemoryStatus."""

from __future__ import annotations

from dataclasses import dataclass

from engine.memory.thresholds import ThresholdLevel


@dataclass(frozen=True)
class MemorySnapshot:
    """One point-in-time reading."""

    timestamp: float
    process_memory_mb: float
    heap_size_mb: float
    loaded_files: int
    cached_queries: int


@dataclass(frozen=True)
class MemoryStatus:
    """Current memory status (the guide's fields, plus what the MCP JSON needs)."""

    current_mb: float
    peak_mb: float
    heap_size_mb: float
    loaded_files: int
    cached_queries: int
    soft_limit_exceeded: bool
    hard_limit_exceeded: bool
    emergency_limit_exceeded: bool
    gc_objects: int
    active_threads: int
    timestamp: float
    level: ThresholdLevel
    budget_mb: float
    soft_limit_mb: float
    hard_limit_mb: float
    emergency_limit_mb: float
