"""A thread-safe queue of memory actions, executed in priority order (higher number first)."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.memory.manager import MemoryManager

log = logging.getLogger(__name__)


class ActionType(Enum):
    """What an action does; str() is the name."""

    CLEANUP = "cleanup"
    GC = "gc"
    SPILL_TO_DISK = "spill_to_disk"
    EVICT = "evict"

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec)


class ActionStatus(Enum):
    """Where an action is; str() is the value ("pending", "completed", "failed")."""

    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


@dataclass
class MemoryAction:
    """A queued action. `handler`, when given, replaces the default for its type."""

    action_id: int
    action_type: ActionType
    description: str
    priority: int
    created_at: float
    params: dict[str, Any] = field(default_factory=dict)
    handler: Callable[[], Any] | None = None
    status: ActionStatus = ActionStatus.PENDING


@dataclass(frozen=True)
class ActionResult:
    """What one executed action did; `freed_mb` is RSS before minus after, measured."""

    action_id: int
    action_type: ActionType
    description: str
    priority: int
    status: ActionStatus
    error: str | None
    duration_seconds: float
    freed_mb: float
    details: Any = None


class ActionQueue:
    """Pending actions; `execute_all` runs them highest priority first, FIFO within a priority."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._execute_lock = threading.Lock()
        self._pending: list[MemoryAction] = []
        self._ids = itertools.count(1)

    def enqueue(
        self,
        action_type: ActionType,
        description: str,
        priority: int = 5,
        *,
        params: dict[str, Any] | None = None,
        handler: Callable[[], Any] | None = None,
    ) -> MemoryAction:
        """Queue an action and return it (it runs at the next `execute_all`)."""
        if not isinstance(action_type, ActionType):
            try:
                action_type = ActionType[str(action_type).upper()]
            except KeyError:
                allowed = ", ".join(t.name for t in ActionType)
                raise ValueError(
                    f"unknown action type {action_type!r}; allowed: {allowed}"
                ) from None
        action = MemoryAction(
            action_id=next(self._ids),
            action_type=action_type,
            description=description,
            priority=int(priority),
            created_at=time.time(),
            params=dict(params or {}),
            handler=handler,
        )
        with self._lock:
            self._pending.append(action)
        return action

    def pending(self) -> list[MemoryAction]:
        """A copy of the queued actions, in the order they would run."""
        with self._lock:
            return _ordered(self._pending)

    def clear(self) -> int:
        """Drop every queued action; return how many were dropped."""
        with self._lock:
            count = len(self._pending)
            self._pending.clear()
            return count

    def execute_all(self, manager: MemoryManager | None = None) -> list[ActionResult]:
        """Run every queued action against `manager` (default: the process's manager).

        A failing action is reported as FAILED with its error; the others still run.
        """
        with self._lock:
            batch = _ordered(self._pending)
            self._pending.clear()
        if not batch:
            return []
        if manager is None:
            from engine.memory.manager import get_memory_manager

            manager = get_memory_manager()
        results = []
        # One batch at a time: two concurrent executions would measure each other's frees.
        with self._execute_lock:
            for action in batch:
                results.append(_execute_one(action, manager))
        return results


def _ordered(actions: list[MemoryAction]) -> list[MemoryAction]:
    return sorted(actions, key=lambda action: (-action.priority, action.action_id))


def _execute_one(action: MemoryAction, manager: MemoryManager) -> ActionResult:
    rss_before = manager.probe.rss_bytes()
    start = time.perf_counter()
    error = None
    details = None
    try:
        if action.handler is not None:
            details = action.handler()
        else:
            details = manager.run_action(action.action_type, **action.params)
        if getattr(details, "success", True) is False:
            error = getattr(details, "error", None) or "action reported failure"
    except Exception as exc:  # a failing action is reported, never stops the queue
        log.exception("memory action %s failed", action.action_type)
        error = f"{type(exc).__name__}: {exc}"
    duration = time.perf_counter() - start
    freed_mb = (rss_before - manager.probe.rss_bytes()) / (1024 * 1024)
    action.status = ActionStatus.FAILED if error else ActionStatus.COMPLETED
    return ActionResult(
        action_id=action.action_id,
        action_type=action.action_type,
        description=action.description,
        priority=action.priority,
        status=action.status,
        error=error,
        duration_seconds=duration,
        freed_mb=freed_mb,
        details=details,
    )


_default_queue = ActionQueue()


def get_action_queue() -> ActionQueue:
    """The process-wide action queue used by `enqueue_action` / `execute_all_actions`."""
    return _default_queue


def enqueue_action(
    action_type: ActionType,
    description: str,
    priority: int = 5,
    *,
    params: dict[str, Any] | None = None,
    handler: Callable[[], Any] | None = None,
) -> MemoryAction:
    """Queue a memory action on the process-wide queue (higher priority runs first)."""
    return _default_queue.enqueue(
        action_type, description, priority, params=params, handler=handler
    )


def execute_all_actions(manager: MemoryManager | None = None) -> list[ActionResult]:
    """Run all queued actions in priority order against the default memory manager."""
    return _default_queue.execute_all(manager)
