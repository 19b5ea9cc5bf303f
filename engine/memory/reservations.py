"""Reservations (admission control): the contract the vector store codes against.

A minimal placeholder per the agreed contract; the memory engineer's branch replaces it.
"""

from __future__ import annotations

import threading
from enum import StrEnum
from typing import Any


class Purpose(StrEnum):
    """What a reservation is for."""

    CACHE_FILE = "cache_file"
    CACHE_QUERY = "cache_query"
    VECTOR_INDEX = "vector_index"
    INDEX_BATCH = "index_batch"
    WRITER_HEAP = "writer_heap"
    OTHER = "other"


class ReservationRefused(Exception):
    """The bytes cannot be granted; the caller degrades visibly."""


class Grant:
    """Bytes granted to one holder; `release()` gives them back, `resize(n)` changes them."""

    def __init__(self, reserver: UnlimitedReserver, nbytes: int) -> None:
        self._reserver = reserver
        self.nbytes = int(nbytes)

    def release(self) -> None:
        self._reserver._change(-self.nbytes)
        self.nbytes = 0

    def resize(self, nbytes: int) -> bool:
        self._reserver._change(int(nbytes) - self.nbytes)
        self.nbytes = int(nbytes)
        return True


class UnlimitedReserver:
    """Grants everything (the default until a budgeted reserver is wired in)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reserved = 0

    def _change(self, delta: int) -> None:
        with self._lock:
            self._reserved += delta

    def reserve(self, nbytes: int, purpose: Purpose, priority: Any = None, project: Any = None):
        self._change(int(nbytes))
        return Grant(self, nbytes)

    def try_reserve(self, nbytes: int, purpose: Purpose, priority: Any = None, project: Any = None):
        return self.reserve(nbytes, purpose, priority, project)

    @property
    def reserved_bytes(self) -> int:
        return self._reserved
