"""Memory management: tracking, thresholds, actions, spill, eviction and the MemoryManager.

Everything the guide imports from `leindex.memory` is importable from here.
"""

from engine.memory.actions import (
    ActionQueue,
    ActionResult,
    ActionStatus,
    ActionType,
    MemoryAction,
    enqueue_action,
    execute_all_actions,
    get_action_queue,
)
from engine.memory.breakdown import MemoryBreakdown
from engine.memory.cache_spill import SpillResult
from engine.memory.cleanup import CleanupResult, GcResult
from engine.memory.ejection import EvictionManager, EvictionResult, emergency_eviction
from engine.memory.limits import MemoryLimits
from engine.memory.manager import (
    MemoryManager,
    MemorySnapshot,
    MemoryStatus,
    get_memory_manager,
    set_memory_manager,
)
from engine.memory.probe import MemoryProbe, ProbeSample
from engine.memory.spill import (
    SpillError,
    SpillFullError,
    SpillIntegrityError,
    SpillUnavailableError,
)
from engine.memory.status import BreakdownNode, DashboardStatus, EvictionRecord, ProjectSummary
from engine.memory.thresholds import LevelTracker, MemoryWarning, ThresholdLevel, check_thresholds
from engine.memory.tracker import MemoryTracker, get_current_usage_mb
from engine.priority import ProjectPriority

__all__ = [
    "ActionQueue",
    "ActionResult",
    "ActionStatus",
    "ActionType",
    "BreakdownNode",
    "CleanupResult",
    "DashboardStatus",
    "EvictionManager",
    "EvictionRecord",
    "EvictionResult",
    "GcResult",
    "LevelTracker",
    "MemoryAction",
    "MemoryBreakdown",
    "MemoryLimits",
    "MemoryManager",
    "MemoryProbe",
    "MemorySnapshot",
    "MemoryStatus",
    "MemoryTracker",
    "MemoryWarning",
    "ProbeSample",
    "ProjectPriority",
    "ProjectSummary",
    "SpillError",
    "SpillFullError",
    "SpillIntegrityError",
    "SpillResult",
    "SpillUnavailableError",
    "ThresholdLevel",
    "check_thresholds",
    "emergency_eviction",
    "enqueue_action",
    "execute_all_actions",
    "get_action_queue",
    "get_current_usage_mb",
    "get_memory_manager",
    "set_memory_manager",
]
