"""Byte-accounted LRU caches: loaded files and query results, with O(1) totals across projects.

Every insert and removal updates the cache's own entry and byte counts and, when the cache is
attached to a `CacheTotals`, the engine-wide sums, so that reading what a cache holds never
walks it. Sizes are computed once, at insert, from what is stored.
"""

from __future__ import annotations

import itertools
import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from engine.memory.reservations import Purpose, Reserver, get_default_reserver
from engine.priority import ProjectPriority

LOADED_FILES = "loaded_files"
QUERY_CACHE = "query_cache"

# One sequence shared by every cache, so "globally oldest" compares entries of different
# projects. next() on itertools.count is atomic under the GIL.
_access_sequence = itertools.count()


@dataclass(frozen=True)
class DropResult:
    """What a removal released: cache entries and the bytes they were accounted at."""

    entries: int = 0
    bytes: int = 0

    def __add__(self, other: DropResult) -> DropResult:
        return DropResult(self.entries + other.entries, self.bytes + other.bytes)


class CacheTotals:
    """Engine-wide sums of every attached cache, per kind; reads are O(1)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries = {LOADED_FILES: 0, QUERY_CACHE: 0}
        self._bytes = {LOADED_FILES: 0, QUERY_CACHE: 0}

    def add(self, kind: str, entries: int, nbytes: int) -> None:
        """Apply a change of `entries` and `nbytes` to `kind` (called by the caches)."""
        with self._lock:
            self._entries[kind] += entries
            self._bytes[kind] += nbytes

    def entries(self, kind: str) -> int:
        """Entries of `kind` over all projects."""
        return self._entries[kind]

    def bytes(self, kind: str) -> int:
        """Bytes of `kind` over all projects."""
        return self._bytes[kind]

    @property
    def loaded_files(self) -> int:
        """Loaded files over all projects."""
        return self._entries[LOADED_FILES]

    @property
    def loaded_content_bytes(self) -> int:
        """Bytes of loaded file contents over all projects."""
        return self._bytes[LOADED_FILES]

    @property
    def cached_queries(self) -> int:
        """Cached queries over all projects."""
        return self._entries[QUERY_CACHE]

    @property
    def query_cache_bytes(self) -> int:
        """Bytes of cached query results over all projects."""
        return self._bytes[QUERY_CACHE]


class _Entry:
    __slots__ = ("value", "size", "stamp")

    def __init__(self, value: Any, size: int, stamp: int) -> None:
        self.value = value
        self.size = size
        self.stamp = stamp


class ByteAccountedLRU:
    """A thread-safe LRU bounded by entry count and by bytes, with spill hooks.

    `on_insert` (if set) is called after an insert, outside the lock, so the engine can enforce
    caps that span projects. `spill_loader` (if set) is asked for a key that was spilled out
    when a `get` misses it; what it returns is inserted again.
    """

    kind = "cache"
    purpose = Purpose.OTHER

    def __init__(
        self,
        max_entries: int,
        max_bytes: int,
        totals: CacheTotals | None = None,
        owner: str = "",
    ) -> None:
        self.owner = owner
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._bytes = 0
        self._max_entries = max(0, int(max_entries))
        self._max_bytes = max(0, int(max_bytes))
        self._totals = totals
        self._spilled: set[Hashable] = set()
        self.spill_loader: Callable[[Hashable], Any | None] | None = None
        # Called (outside the lock) with keys whose spill files became stale.
        self.spill_discarder: Callable[[list[Hashable]], None] | None = None
        self.on_insert: Callable[[ByteAccountedLRU], None] | None = None
        self.hits = 0
        self.misses = 0
        # Admission control: an insert reserves its bytes first; a refusal serves the value
        # without caching it and is counted here (diagnostics show it).
        self.reserver: Reserver | None = None
        self.priority: Callable[[], ProjectPriority] = lambda: ProjectPriority.MEDIUM
        self.refused_inserts = 0

    # -- sizes ------------------------------------------------------------------------------

    def size_of(self, key: Hashable, value: Any) -> int:
        """Bytes accounted for one entry; subclasses measure what they store."""
        return sys.getsizeof(key) + sys.getsizeof(value)

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    @property
    def bytes(self) -> int:
        """Bytes accounted for the entries held now."""
        return self._bytes

    @property
    def max_entries(self) -> int:
        """The entry cap."""
        return self._max_entries

    @property
    def max_bytes(self) -> int:
        """The byte cap."""
        return self._max_bytes

    def keys(self) -> list[Hashable]:
        """Keys, oldest (least recently used) first."""
        with self._lock:
            return list(self._entries)

    def oldest_stamp(self) -> int | None:
        """Access sequence number of the oldest entry (comparable across caches), or None."""
        with self._lock:
            for entry in self._entries.values():
                return entry.stamp
            return None

    def get(self, key: Hashable) -> Any | None:
        """The value for `key` (marking it most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                entry.stamp = next(_access_sequence)
                self.hits += 1
                return entry.value
            self.misses += 1
            loader = self.spill_loader if key in self._spilled else None
        if loader is None:
            return None
        value = loader(key)  # outside the lock: the loader reads a file
        if value is None:
            with self._lock:
                self._spilled.discard(key)
            return None
        self.put(key, value)
        return value

    def peek(self, key: Hashable) -> Any | None:
        """The value for `key` without touching its recency or the spill loader."""
        with self._lock:
            entry = self._entries.get(key)
            return None if entry is None else entry.value

    # -- writing ----------------------------------------------------------------------------

    def put(self, key: Hashable, value: Any) -> bool:
        """Insert or replace; False when the value alone is larger than the byte cap."""
        size = self.size_of(key, value)
        if size > self._max_bytes or self._max_entries == 0:
            return False
        reserver = self.reserver or get_default_reserver()
        grant = reserver.try_reserve(size, self.purpose, self.priority(), self.owner or None)
        if grant is None:
            with self._lock:
                self.refused_inserts += 1
            return False
        try:
            self._insert(key, value, size)
        finally:
            # The bytes are held now (RSS sees them): the reservation is realised.
            grant.release()
        callback = self.on_insert
        if callback is not None:
            callback(self)
        return True

    def _insert(self, key: Hashable, value: Any, size: int) -> None:
        with self._lock:
            self._spilled.discard(key)
            old = self._entries.pop(key, None)
            if old is not None:
                self._account(-1, -old.size)
            self._entries[key] = _Entry(value, size, next(_access_sequence))
            self._account(1, size)
            self._trim_locked()

    def discard(self, key: Hashable) -> DropResult:
        """Remove `key` if present, and forget that it was spilled (deleting its spill file)."""
        with self._lock:
            was_spilled = key in self._spilled
            self._spilled.discard(key)
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._account(-1, -entry.size)
        if was_spilled:
            self._discard_spill_files([key])
        return DropResult() if entry is None else DropResult(1, entry.size)

    def drop_oldest(self, n: int) -> DropResult:
        """Remove the `n` least recently used entries."""
        with self._lock:
            return self._drop_oldest_locked(n)

    def clear(self) -> DropResult:
        """Remove every entry held in memory (spilled keys stay known)."""
        with self._lock:
            return self._drop_oldest_locked(len(self._entries))

    def invalidate(self) -> DropResult:
        """Remove every entry and forget spilled keys: their data is stale (files deleted)."""
        with self._lock:
            stale = list(self._spilled)
            self._spilled.clear()
            result = self._drop_oldest_locked(len(self._entries))
        self._discard_spill_files(stale)
        return result

    def is_spilled(self, key: Hashable) -> bool:
        """True while `key` is remembered as spilled (not loaded back, put or forgotten)."""
        with self._lock:
            return key in self._spilled

    def _discard_spill_files(self, keys: list[Hashable]) -> None:
        discarder = self.spill_discarder
        if discarder is not None and keys:
            try:
                discarder(keys)
            except Exception:  # a stale file left behind is cleaned at the next start
                logging.getLogger(__name__).warning("could not delete stale spill files")

    def set_caps(self, max_entries: int, max_bytes: int) -> DropResult:
        """Change the caps, dropping the oldest entries that no longer fit."""
        with self._lock:
            self._max_entries = max(0, int(max_entries))
            self._max_bytes = max(0, int(max_bytes))
            return self._trim_locked()

    # -- spill ------------------------------------------------------------------------------

    def spill_out(self, n: int | None = None) -> list[tuple[Hashable, Any]]:
        """Remove the `n` oldest entries (all when None) and return them, remembering their keys."""
        with self._lock:
            count = len(self._entries) if n is None else max(0, min(n, len(self._entries)))
            removed = []
            for _ in range(count):
                key, entry = self._entries.popitem(last=False)
                self._account(-1, -entry.size)
                self._spilled.add(key)
                removed.append((key, entry.value))
            return removed

    def spilled_keys(self) -> list[Hashable]:
        """Keys spilled out and not loaded back or invalidated since."""
        with self._lock:
            return list(self._spilled)

    def forget_spilled(self, keys: Iterable[Hashable] | None = None) -> None:
        """Stop treating `keys` (all when None) as spilled."""
        with self._lock:
            if keys is None:
                self._spilled.clear()
            else:
                self._spilled.difference_update(keys)

    def export_entries(self) -> list[tuple[Hashable, Any]]:
        """A copy of the entries, oldest first (what `import_entries` takes back)."""
        with self._lock:
            return [(key, entry.value) for key, entry in self._entries.items()]

    def import_entries(self, entries: Iterable[tuple[Hashable, Any]]) -> int:
        """Insert `entries` in order (oldest first); returns how many were kept."""
        return sum(1 for key, value in entries if self.put(key, value))

    # -- internals --------------------------------------------------------------------------

    def _account(self, entries: int, nbytes: int) -> None:
        self._bytes += nbytes
        if self._totals is not None:
            self._totals.add(self.kind, entries, nbytes)

    def _drop_oldest_locked(self, n: int) -> DropResult:
        dropped_entries = dropped_bytes = 0
        for _ in range(max(0, min(n, len(self._entries)))):
            _key, entry = self._entries.popitem(last=False)
            self._account(-1, -entry.size)
            dropped_entries += 1
            dropped_bytes += entry.size
        return DropResult(dropped_entries, dropped_bytes)

    def _trim_locked(self) -> DropResult:
        result = DropResult()
        while self._entries and (
            len(self._entries) > self._max_entries or self._bytes > self._max_bytes
        ):
            result = result + self._drop_oldest_locked(1)
        return result


class LoadedFileCache(ByteAccountedLRU):
    """File contents (str) by path relative to the project root."""

    kind = LOADED_FILES
    purpose = Purpose.CACHE_FILE


class QueryKey(NamedTuple):
    """What identifies a cached search within a project."""

    query: str
    mode: str
    project: str
    limit: int
    literal: bool


def normalise_query(query: str) -> str:
    """Collapse runs of whitespace: `foo   bar` and ` foo bar` are the same search."""
    return " ".join(query.split())


class QueryCache(ByteAccountedLRU):
    """Search results (a tuple of `SearchHit`) by `QueryKey`."""

    kind = QUERY_CACHE
    purpose = Purpose.CACHE_QUERY

    def size_of(self, key: Hashable, value: Any) -> int:
        """The key's strings plus the tuple and every hit's fields, as stored."""
        size = sys.getsizeof(key) + sum(sys.getsizeof(part) for part in key)  # type: ignore[union-attr]
        size += sys.getsizeof(value)
        for hit in value:
            size += hit.size_in_memory()
        return size
