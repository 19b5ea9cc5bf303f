"""Reservations (admission control): every large allocation asks before it happens.

As Elasticsearch's circuit breakers: a caller about to hold `nbytes` (a cache insert, a
vector index load or growth, an indexing batch, the tantivy writer heap) calls
`reserve(nbytes, purpose, priority, project)` and gets a `Grant`, or `ReservationRefused`
with the bytes available and the reason; `try_reserve` returns None instead of raising.
The caller degrades visibly when refused (serve without caching, pause indexing, say
semantic search is unavailable for the project).

This module is a leaf: it imports nothing from the memory manager, so the index layer can
import it. The manager installs the real reserver with `set_default_reserver`; until then
`UnlimitedReserver` grants everything (unit tests, an engine without a manager).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from engine.priority import ProjectPriority

__all__ = [
    "Grant",
    "Purpose",
    "ReservationRefused",
    "ReservationRequest",
    "Reserver",
    "UnlimitedReserver",
    "get_default_reserver",
    "set_default_reserver",
    "unreserved",
]


class Purpose(StrEnum):
    """What a reservation is for (shown in diagnostics and refusal reasons)."""

    CACHE_FILE = "cache_file"
    CACHE_QUERY = "cache_query"
    VECTOR_INDEX = "vector_index"
    INDEX_BATCH = "index_batch"
    INDEX_WORKERS = "index_workers"
    WRITER_HEAP = "writer_heap"
    EMBEDDING_MODEL = "embedding_model"
    OTHER = "other"


@dataclass(frozen=True)
class ReservationRequest:
    """One request: how many bytes, for what, at which priority, for which project."""

    nbytes: int
    purpose: Purpose
    priority: ProjectPriority
    project: str | None = None


class ReservationRefused(Exception):
    """The reserver could not make room for `request`."""

    def __init__(self, request: ReservationRequest, available_bytes: int, reason: str) -> None:
        self.request = request
        self.available_bytes = int(available_bytes)
        self.reason = reason
        where = f" for project {request.project}" if request.project else ""
        super().__init__(
            f"reservation of {request.nbytes / 1048576:.1f} MB ({request.purpose}){where} "
            f"refused: {reason} ({max(0, self.available_bytes) / 1048576:.1f} MB available)"
        )


class Grant:
    """Bytes granted to one holder; `release()` (or leaving the `with` block) gives them back.

    `resize(n)` changes the held amount; growing asks the reserver again and returns False
    (keeping the old size) when refused. Releasing twice is harmless.
    """

    def __init__(self, reserver: _GrantOwner, request: ReservationRequest) -> None:
        self._reserver = reserver
        self.request = request
        self.nbytes = int(request.nbytes)
        self.purpose = request.purpose
        self.project = request.project
        self.priority = request.priority
        self.released = False
        self._lock = threading.Lock()

    def resize(self, new_nbytes: int) -> bool:
        """Hold `new_nbytes` instead; False if growing was refused (the grant is unchanged)."""
        new_nbytes = max(0, int(new_nbytes))
        with self._lock:
            if self.released:
                return False
            delta = new_nbytes - self.nbytes
            if delta > 0 and not self._reserver._grow(self, delta):
                return False
            if delta < 0:
                self._reserver._shrink(self, -delta)
            self.nbytes = new_nbytes
            return True

    def release(self) -> None:
        """Give the bytes back (idempotent)."""
        with self._lock:
            if self.released:
                return
            self.released = True
            nbytes, self.nbytes = self.nbytes, 0
        self._reserver._shrink(self, nbytes)
        self._reserver._forget(self)

    def __enter__(self) -> Grant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Grant({self.nbytes} B, {self.purpose}, project={self.project!r})"


class _GrantOwner(Protocol):
    def _grow(self, grant: Grant, delta: int) -> bool: ...
    def _shrink(self, grant: Grant, delta: int) -> None: ...
    def _forget(self, grant: Grant) -> None: ...


@runtime_checkable
class Reserver(Protocol):
    """What the index layer calls before a large allocation."""

    def reserve(
        self,
        nbytes: int,
        purpose: Purpose,
        priority: ProjectPriority,
        project: str | None = None,
    ) -> Grant:
        """A grant for `nbytes`, making room first if needed; raises ReservationRefused."""
        ...

    def try_reserve(
        self,
        nbytes: int,
        purpose: Purpose,
        priority: ProjectPriority,
        project: str | None = None,
    ) -> Grant | None:
        """As `reserve`, but None instead of raising."""
        ...

    def reserved_bytes(self) -> int:
        """Bytes currently held by outstanding grants."""
        ...


class UnlimitedReserver:
    """Grants everything, counting what is outstanding (used when no manager is installed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outstanding = 0

    def reserve(
        self,
        nbytes: int,
        purpose: Purpose,
        priority: ProjectPriority,
        project: str | None = None,
    ) -> Grant:
        request = ReservationRequest(max(0, int(nbytes)), Purpose(purpose), priority, project)
        with self._lock:
            self._outstanding += request.nbytes
        return Grant(self, request)

    def try_reserve(
        self,
        nbytes: int,
        purpose: Purpose,
        priority: ProjectPriority,
        project: str | None = None,
    ) -> Grant | None:
        return self.reserve(nbytes, purpose, priority, project)

    def reserved_bytes(self) -> int:
        with self._lock:
            return self._outstanding

    def _grow(self, grant: Grant, delta: int) -> bool:
        with self._lock:
            self._outstanding += delta
        return True

    def _shrink(self, grant: Grant, delta: int) -> None:
        with self._lock:
            self._outstanding = max(0, self._outstanding - delta)

    def _forget(self, grant: Grant) -> None:
        return None


_default_lock = threading.Lock()
_default: Reserver = UnlimitedReserver()


def get_default_reserver() -> Reserver:
    """The process's reserver: the memory manager's once installed, else unlimited."""
    return _default


def set_default_reserver(reserver: Reserver | None) -> Reserver:
    """Install `reserver` (None restores an UnlimitedReserver); returns the previous one."""
    global _default
    with _default_lock:
        previous = _default
        _default = reserver if reserver is not None else UnlimitedReserver()
        return previous


class _NoOwner:
    """Owner of grants that were never admitted: nothing to count, nothing to give back."""

    def _grow(self, grant: Grant, delta: int) -> bool:
        return True

    def _shrink(self, grant: Grant, delta: int) -> None:
        return None

    def _forget(self, grant: Grant) -> None:
        return None


def unreserved(
    nbytes: int, purpose: Purpose, priority: ProjectPriority, project: str | None = None
) -> Grant:
    """A grant the reserver did not admit, for a caller that goes on anyway and says so."""
    return Grant(_NoOwner(), ReservationRequest(max(0, int(nbytes)), purpose, priority, project))
