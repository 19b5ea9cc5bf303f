"""Worker processes for indexing's per-file CPU work, so a big index uses every core.

Parsing (tree-sitter), sub-token splitting and embedding hold the GIL, so threads would take
turns; processes do not. The main process keeps what must stay in one place (the tantivy
writer, the symbols table, the vector index) and applies the workers' results in order while
they analyse the next files.

The workers' memory is the engine's: before they start it is reserved (one estimate per
worker, `WORKER_BYTES_ESTIMATE`), and once they run their RSS is counted in every reading of
the memory probe (`track_worker_process`), so the reservation shrinks to what they may still
grow into (the estimate less their measured RSS, re-measured with every result) and is
released when they end: nothing is counted twice, and nothing is taken unreserved. A budget
without room for even one worker gets no pool and indexing runs in-process, as it does for
small changes. Workers are started with `spawn` (a fork of a process running tantivy's and
the monitor's threads is unsafe) and import only `engine.index.analysis_worker` (the
analysis code, not the engine).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import resource_tracker
from pathlib import Path

from engine.index.analysis import EmbeddedFile, FileAnalysis, file_groups
from engine.index.analysis_worker import analyze_group, embed_group, init_worker, worker_pid
from engine.index.embed import Embedder, HashingEmbedder
from engine.memory.probe import track_worker_process, untrack_worker_process
from engine.memory.reservations import Grant, Purpose, ReservationRefused, Reserver
from engine.priority import ProjectPriority

log = logging.getLogger(__name__)

# A worker's RSS at its peak (measured on the kernel's fs/: 38 MB after imports, 80 MB after
# analysing and embedding all of it: bounded memos, parse trees, pymalloc arenas); its working
# memory per task is part of the indexing batch's reservation.
WORKER_BYTES_ESTIMATE = 80 << 20


def _stderr_is_a_file() -> bool:
    """Whether sys.stderr is a real file (under the TUI it is Textual's capture, fd -1)."""
    try:
        return sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        return False


_tracker_lock = threading.Lock()


def _start_resource_tracker_quietly() -> None:
    """Start multiprocessing's resource tracker with /dev/null as its stderr.

    The tracker is handed sys.stderr's fd; when that is not a file (the TUI captures output)
    starting it fails ('bad value(s) in fds_to_keep'), and its messages must not reach the
    screen the TUI draws on either.
    """
    with _tracker_lock, open(os.devnull, "w") as devnull:
        saved, sys.stderr = sys.stderr, devnull
        try:
            resource_tracker.ensure_running()
        finally:
            sys.stderr = saved


def _track_resource_tracker() -> None:
    """Count multiprocessing's resource tracker (started with the first pool, it lives as
    long as this process) like a worker: its memory is the engine's too."""
    pid = getattr(resource_tracker._resource_tracker, "_pid", None)
    if isinstance(pid, int):
        track_worker_process(pid)


def can_embed_in_workers(embedder: Embedder) -> bool:
    """Whether workers can embed with a copy of `embedder`: the model-free one is cheap to
    copy; a model would be loaded once per worker, so models embed in-process."""
    return type(embedder) is HashingEmbedder


class AnalysisPool:
    """A pool of worker processes for one indexing run; `close()` ends them."""

    def __init__(
        self,
        workers: int,
        embedder: Embedder | None,
        reserver: Reserver,
        priority: ProjectPriority,
        project: str,
    ) -> None:
        self.workers = 0
        self.embedder = (
            embedder if embedder is not None and can_embed_in_workers(embedder) else None
        )
        self._pids: list[int] = []
        self._rss_of: dict[int, int] = {}  # worker pid -> its RSS after its last task
        self._executor: Executor | None = None
        self._grant: Grant | None = None
        self.failed = False
        grant = None
        while workers > 0 and grant is None:
            try:
                grant = reserver.reserve(
                    workers * WORKER_BYTES_ESTIMATE, Purpose.INDEX_WORKERS, priority, project
                )
            except ReservationRefused as refusal:
                log.info("%s: %d indexing worker(s) refused: %s", project, workers, refusal)
                workers -= 1
        if grant is None:
            return
        try:
            quiet = not _stderr_is_a_file()
            if quiet:
                _start_resource_tracker_quietly()
            self._executor = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
                initargs=(self.embedder, quiet),
            )
            # Start every worker now (one is spawned per submit while none is idle), so their
            # RSS is counted from here on and the grant can go. A worker that answered none of
            # the pings is counted from its first result.
            futures = [self._executor.submit(worker_pid) for _ in range(workers)]
            for pid, rss in {future.result() for future in futures}:
                self._track(pid, rss)
            _track_resource_tracker()
            self.workers = workers
            self._grant = grant
            self._shrink_grant()
        except Exception as error:  # an accelerator that cannot start is no reason to fail
            log.warning(
                "%s: indexing workers could not start (%s); indexing in-process", project, error
            )
            grant.release()
            self.close()

    @property
    def running(self) -> bool:
        return self._executor is not None and self.workers > 0 and not self.failed

    def _track(self, pid: int, rss: int) -> None:
        if pid not in self._pids:
            self._pids.append(pid)
            track_worker_process(pid)
        self._rss_of[pid] = rss

    def _shrink_grant(self) -> None:
        """Hold what the workers may still grow into: the estimate less their measured RSS
        (the probe counts that part)."""
        grant = self._grant
        if grant is not None:
            measured = sum(self._rss_of.values())
            grant.resize(max(0, self.workers * WORKER_BYTES_ESTIMATE - measured))

    def analyze(self, root: Path, entries: list[tuple[str, int]]) -> Iterator[FileAnalysis]:
        """The analyses of these (path, size) files, in their order."""
        return self._map(analyze_group, root, entries)

    def embed(self, root: Path, entries: list[tuple[str, int]]) -> Iterator[EmbeddedFile]:
        """The chunks and vectors of these (path, size) files, in their order."""
        if self.embedder is None:
            raise RuntimeError("the workers have no embedder")
        return self._map(embed_group, root, entries)

    def _map(
        self,
        task: Callable[[str, list[str]], tuple[int, int, list]],
        root: Path,
        entries: list[tuple[str, int]],
    ) -> Iterator:
        """Hand every group to the workers now; the iterator yields their results in order."""
        assert self._executor is not None
        groups = list(file_groups(entries))
        try:
            results = self._executor.map(task, [str(root)] * len(groups), groups)
        except BrokenProcessPool:
            self.failed = True
            raise
        return self._results(results)

    def _results(self, results: Iterator[tuple[int, int, list]]) -> Iterator:
        try:
            for pid, rss, items in results:
                self._track(pid, rss)
                self._shrink_grant()
                yield from items
        except BrokenProcessPool:
            self.failed = True
            raise

    def close(self) -> None:
        """End the workers (waiting for them) and stop counting their memory."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        for pid in self._pids:
            untrack_worker_process(pid)
        self._pids.clear()
        self._rss_of.clear()
        self.workers = 0
        grant, self._grant = self._grant, None
        if grant is not None:
            grant.release()

    def __enter__(self) -> AnalysisPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
