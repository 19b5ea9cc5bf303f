"""One indexing run's worker processes: when to start them, the batch handed to them ahead,
and the results of a batch in order, in-process when the workers are gone.

The indexer (`engine.index.indexer`) decides what is indexed and reserves every batch; this
module only decides where a batch's per-file work is done. Any failure of the workers (one
killed, the pool broken or cancelled) ends them, and the rest of the run is done in-process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import BrokenExecutor, CancelledError
from pathlib import Path
from typing import TYPE_CHECKING

from engine.index.analysis import (
    EmbeddedFile,
    FileAnalysis,
    PiecesOf,
    analyze_file,
    available_cores,
    embed_files,
    file_groups,
)
from engine.index.embed import Embedder
from engine.index.walker import FileEntry
from engine.memory.reservations import Grant, Reserver
from engine.priority import ProjectPriority

if TYPE_CHECKING:  # multiprocessing loads only when a run is big enough for workers
    from engine.index.analysis_pool import AnalysisPool

log = logging.getLogger(__name__)

# Below this much work, worker processes cost more (starting interpreters) than they save.
MIN_POOL_BYTES = 16 << 20


def open_pool(
    name: str, embedder: Embedder, reserver: Reserver, work_bytes: int
) -> AnalysisPool | None:
    """Worker processes for a run big enough to gain from them, as many as there are cores
    (fewer if the budget has room for fewer); None to index in-process."""
    import multiprocessing

    cores = available_cores()
    if cores < 2 or work_bytes < MIN_POOL_BYTES or multiprocessing.parent_process() is not None:
        return None  # (in a worker process: workers never start workers)
    from engine.index.analysis_pool import AnalysisPool

    # Asked at LOW priority: room for workers may come from cleaning or spilling caches,
    # never from evicting another project's data.
    pool = AnalysisPool(cores, embedder, reserver, ProjectPriority.LOW, name)
    if not pool.running:
        pool.close()
        return None
    log.info("%s: indexing with %d worker processes", name, pool.workers)
    return pool


def _batch_key(batch: list[FileEntry]) -> tuple[str, int]:
    return batch[0].rel, len(batch)


class WorkerFeed:
    """Where one run's batches are analysed and embedded: its worker processes, if it has
    any, with at most one batch handed to them ahead of its turn."""

    def __init__(self, name: str, root: Path, embedder: Embedder, pieces_of: PiecesOf) -> None:
        self.name = name
        self.root = root
        self.embedder = embedder
        # How in-process embedding cuts a file (the project's embedder may want definitions).
        self.pieces_of = pieces_of
        self.pool: AnalysisPool | None = None
        # The next batch, reserved and handed to the workers early: (start, batch, grant).
        self._ahead: tuple[int, list[FileEntry], Grant] | None = None
        # Results the workers are computing, by the batch's (first path, length).
        self._submitted: dict[tuple[str, int], Iterator[FileAnalysis] | Iterator[EmbeddedFile]]
        self._submitted = {}

    def start(self, reserver: Reserver, work_bytes: int) -> None:
        """Start workers if the run is big enough and the budget has room for them."""
        self.pool = open_pool(self.name, self.embedder, reserver, work_bytes)

    @property
    def workers(self) -> int:
        pool = self._usable()
        return pool.workers if pool is not None else 0

    def _usable(self) -> AnalysisPool | None:
        pool = self.pool
        return pool if pool is not None and pool.running else None

    def can_take_ahead(self, semantic: bool) -> bool:
        """Whether a batch can be handed to workers ahead (none is already)."""
        pool = self._usable()
        if pool is None or self._ahead is not None:
            return False
        return not semantic or pool.embedder is not None

    def hand_ahead(self, start: int, batch: list[FileEntry], grant: Grant, semantic: bool) -> None:
        """Give the workers `batch` (reserved by `grant`) now; its turn starts at `start`."""
        pool = self._usable()
        if pool is None:
            grant.release()
            return
        files = [(entry.rel, entry.size) for entry in batch]
        submit = pool.embed if semantic else pool.analyze
        try:
            self._submitted[_batch_key(batch)] = submit(self.root, files)
        except BrokenExecutor as error:
            grant.release()
            self._broke(error)
            return
        self._ahead = (start, batch, grant)

    def take_ahead(self, start: int) -> tuple[list[FileEntry], Grant] | None:
        """The batch reserved ahead, if it starts at `start`."""
        if self._ahead is None or self._ahead[0] != start:
            self.drop_ahead()
            return None
        _, batch, grant = self._ahead
        self._ahead = None
        return batch, grant

    def drop_ahead(self) -> None:
        """Forget the batch handed ahead (its grant released, its results dropped)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead[2].release()
        self._submitted.clear()

    def analyses(self, entries: list[FileEntry]) -> Iterator[FileAnalysis]:
        """The entries' analyses in order: from the workers while they run, else in-process."""
        done = 0
        pool = self._usable()
        if pool is not None:
            try:
                results = self._submitted.pop(_batch_key(entries), None) or pool.analyze(
                    self.root, [(e.rel, e.size) for e in entries]
                )
                for analysis in results:
                    yield analysis
                    done += 1
                return
            except (BrokenExecutor, CancelledError) as error:
                self._broke(error)
        for entry in entries[done:]:
            yield analyze_file(self.root, entry.rel)

    def embedded(self, batch: list[FileEntry], pending: list[FileEntry]) -> Iterator[EmbeddedFile]:
        """The chunks and vectors of the `pending` entries of `batch`, in order: from the
        workers while they run and can embed (the batch may have been handed to them ahead,
        whole), else in-process a group of files at a time."""
        wanted = {entry.rel for entry in pending}
        done: set[str] = set()
        pool = self._usable()
        if pool is not None and pool.embedder is not None:
            try:
                results = self._submitted.pop(_batch_key(batch), None) or pool.embed(
                    self.root, [(e.rel, e.size) for e in pending]
                )
                for item in results:
                    if item.rel in wanted:
                        done.add(item.rel)
                        yield item
                return
            except (BrokenExecutor, CancelledError) as error:
                self._broke(error)
        rest = [(entry.rel, entry.size) for entry in pending if entry.rel not in done]
        for group in file_groups(rest):
            yield from self.embed_in_process(group)

    def embed_in_process(self, rels: list[str]) -> list[EmbeddedFile]:
        """Read and embed these files here (one group: about `GROUP_BYTES` of text)."""
        return embed_files(self.embedder, self.root, rels, self.pieces_of)

    def _broke(self, error: BaseException) -> None:
        """A worker died (killed, out of memory): the rest of the run is done in-process."""
        log.warning("%s: an indexing worker failed (%s); going on in-process", self.name, error)
        self.close()

    def close(self) -> None:
        """End the workers (if any); later batches are done in-process."""
        self.drop_ahead()
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.close()
