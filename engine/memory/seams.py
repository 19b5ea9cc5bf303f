"""What the memory layer needs of the engine above it, as protocols.

The memory package imports nothing from `engine.index`: the engine, its projects and their
caches reach it as objects that have these attributes. The index layer's classes satisfy
them structurally (engine.index.Engine, Project, ByteAccountedLRU); tests pass small fakes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Protocol, runtime_checkable

from engine.priority import ProjectPriority


class DroppedEntries(Protocol):
    """What a cache reports it dropped (engine.index.caches.DropResult)."""

    entries: int
    bytes: int


@runtime_checkable
class ManagedCache(Protocol):
    """A byte-accounted cache the manager can shrink and spill."""

    spill_loader: Callable[[Hashable], object | None] | None
    spill_discarder: Callable[[list[Hashable]], None] | None

    @property
    def bytes(self) -> int: ...

    def __len__(self) -> int: ...

    def drop_oldest(self, n: int) -> DroppedEntries: ...

    def spill_out(self, n: int | None = None) -> list[tuple[Hashable, object]]: ...

    def is_spilled(self, key: Hashable) -> bool: ...


@runtime_checkable
class ManagedProject(Protocol):
    """One indexed project, as cleanup, spill, eviction and the dashboard see it."""

    name: str
    path: Path
    index_dir: Path
    last_accessed: float
    loaded_files: ManagedCache
    query_cache: ManagedCache
    ready: threading.Event

    @property
    def priority(self) -> ProjectPriority: ...

    @property
    def vector_index_loaded(self) -> bool: ...

    @property
    def vector_bytes(self) -> int: ...

    def drop_caches(self) -> DroppedEntries: ...

    def unload_vectors(self, wait: bool = False) -> int: ...


class ProjectList(Protocol):
    def list(self) -> list[ManagedProject]: ...


@runtime_checkable
class ManagedEngine(Protocol):
    """The engine whose projects the manager keeps inside the budget."""

    registry: ProjectList
    home: Path

    def close(self) -> None: ...
