"""The memory manager's reserver: admission control against the budget (see reservations.py).

A request is granted when measured RSS (one statm read) + the bytes of outstanding grants +
the request fit under the hard limit. Otherwise room is made, one step at a time and
re-checking after each: cleanup, spill, then evicting projects of strictly LOWER priority
than the requester (never the requester's own project, never its priority or higher, never
CRITICAL). If it still does not fit, the request is refused with the reason.

Room is made only if the action lock is free (try-acquire): a request made while an
enforcement pass runs is checked once more and refused rather than waiting behind it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from engine.memory.cleanup import run_cleanup
from engine.memory.ejection import evict_projects
from engine.memory.probe import MB
from engine.memory.reservations import (
    Grant,
    Purpose,
    ReservationRefused,
    ReservationRequest,
)
from engine.memory.seams import ManagedProject
from engine.priority import ProjectPriority

if TYPE_CHECKING:
    from engine.memory.manager import MemoryManager


class BudgetReserver:
    """Grants reservations while RSS + outstanding + request stays under the hard limit."""

    def __init__(self, manager: MemoryManager) -> None:
        self._manager = manager
        self._lock = threading.Lock()
        self._outstanding = 0
        self._grants: set[Grant] = set()
        self.granted = 0
        self.refused = 0
        self.room_made = 0
        self.last_refusal: str | None = None

    # -- the Reserver protocol --------------------------------------------------------------

    def reserve(
        self,
        nbytes: int,
        purpose: Purpose,
        priority: ProjectPriority,
        project: str | None = None,
    ) -> Grant:
        request = ReservationRequest(max(0, int(nbytes)), Purpose(purpose), priority, project)
        if not self._admit(request):
            self._make_room(request)
            if not self._admit(request):
                available = self._available_bytes()
                reason = (
                    f"RSS + reservations would exceed the hard limit "
                    f"({self._manager.limits.hard_mb:.0f} MB) after cleanup, spill and "
                    f"evicting lower-priority projects"
                )
                with self._lock:
                    self.refused += 1
                error = ReservationRefused(request, available, reason)
                self.last_refusal = str(error)
                raise error
        grant = Grant(self, request)
        with self._lock:
            self._grants.add(grant)
        return grant

    def try_reserve(
        self,
        nbytes: int,
        purpose: Purpose,
        priority: ProjectPriority,
        project: str | None = None,
    ) -> Grant | None:
        try:
            return self.reserve(nbytes, purpose, priority, project)
        except ReservationRefused:
            return None

    def reserved_bytes(self) -> int:
        with self._lock:
            return self._outstanding

    def diagnostics(self) -> dict[str, Any]:
        """Counters for diagnostics: granted, refused, room made, outstanding MB."""
        with self._lock:
            return {
                "granted": self.granted,
                "refused": self.refused,
                "room_made": self.room_made,
                "outstanding_mb": round(self._outstanding / MB, 3),
                "outstanding_grants": len(self._grants),
                "last_refusal": self.last_refusal,
            }

    # -- Grant callbacks --------------------------------------------------------------------

    def _grow(self, grant: Grant, delta: int) -> bool:
        request = ReservationRequest(delta, grant.purpose, grant.priority, grant.project)
        try:
            extra = self.reserve(delta, request.purpose, request.priority, request.project)
        except ReservationRefused:
            return False
        # Fold the extra grant into `grant`.
        with self._lock:
            self._grants.discard(extra)
        extra.released = True
        return True

    def _shrink(self, grant: Grant, delta: int) -> None:
        with self._lock:
            self._outstanding = max(0, self._outstanding - delta)

    def _forget(self, grant: Grant) -> None:
        with self._lock:
            self._grants.discard(grant)

    # -- internals --------------------------------------------------------------------------

    def _limit_bytes(self) -> float:
        return self._manager.limits.hard_mb * MB

    def _available_bytes(self) -> int:
        with self._lock:
            outstanding = self._outstanding
        return int(self._limit_bytes() - self._manager.probe.rss_bytes() - outstanding)

    def _admit(self, request: ReservationRequest) -> bool:
        rss = self._manager.probe.rss_bytes()
        with self._lock:
            if rss + self._outstanding + request.nbytes > self._limit_bytes():
                return False
            self._outstanding += request.nbytes
            self.granted += 1
            return True

    def _make_room(self, request: ReservationRequest) -> None:
        manager = self._manager
        if not manager._action_lock.acquire(blocking=False):
            return
        try:
            with self._lock:
                self.room_made += 1
            for step in ("cleanup", "spill", "evict"):
                need = -self._available_bytes() + request.nbytes
                if need <= 0:
                    return
                projects = manager._projects()
                if step == "cleanup":
                    run_cleanup(projects, manager.probe, 0.5, target_bytes=need)
                elif step == "spill":
                    manager._spill_locked(projects, need, "api")
                else:
                    self._evict_lower(projects, request, need)
        finally:
            manager._action_lock.release()

    def _evict_lower(
        self, projects: list[ManagedProject], request: ReservationRequest, need: float
    ) -> None:
        if request.priority <= ProjectPriority.LOW:
            return  # nothing is below LOW
        lower = [
            project
            for project in projects
            if getattr(project, "priority", ProjectPriority.MEDIUM) < request.priority
            and project.name != request.project
        ]
        if not lower:
            return
        evict_projects(
            lower,
            self._manager.probe,
            max(need / MB, 0.001),
            ProjectPriority(request.priority - 1),
            excluded_projects=[request.project] if request.project else None,
            trigger="api",
            clock=self._manager.clock,
        )
