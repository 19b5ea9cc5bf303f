"""Re-warming an engine from a saved `CacheState`, in the background, while it already serves.

Once a project's index is ready (an unchanged project only needs a quick sync), its loaded
files are read back and its cached queries re-run, project after project. A file that
vanished, changed (mtime or size differ from the save) or whose name would leave its project
is skipped and counted. The restorer remembers
how far it got, so a shutdown in the middle of a restore saves the part not yet restored
instead of losing it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.lifecycle.cache_state import (
    CachedQueryRecord,
    CacheState,
    LoadedFileRecord,
    ProjectCacheState,
)
from engine.lifecycle.engine_adapter import (
    find_project,
    project_key,
    rerun_query,
    resolve_inside,
    warm_file,
)

log = logging.getLogger(__name__)

# Waiting for a project's first index is checked this often, so a shutdown is not held up.
_READY_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did so far; `finished` is False while it is still running."""

    files_restored: int = 0
    files_skipped_missing: int = 0
    files_skipped_changed: int = 0
    files_rejected: int = 0
    files_failed: int = 0
    files_over_cap: int = 0
    queries_restored: int = 0
    queries_failed: int = 0
    queries_over_cap: int = 0
    projects_restored: int = 0
    projects_not_open: int = 0
    started_at: float = 0.0
    duration_seconds: float = 0.0
    finished: bool = False
    cancelled: bool = False

    @property
    def files_skipped(self) -> int:
        """Files not warmed because they vanished, changed or were refused."""
        return self.files_skipped_missing + self.files_skipped_changed + self.files_rejected


class CacheRestorer:
    """Restores one saved state into one engine; `run()` is meant for a background thread."""

    def __init__(self, engine: Any, state: CacheState, clock=time.monotonic) -> None:
        self.engine = engine
        self.state = state
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(
            (
                "files_restored",
                "files_skipped_missing",
                "files_skipped_changed",
                "files_rejected",
                "files_failed",
                "files_over_cap",
                "queries_restored",
                "queries_failed",
                "queries_over_cap",
                "projects_restored",
                "projects_not_open",
            ),
            0,
        )
        # How many entries of each project were processed (restored or skipped) so far.
        self._files_done: dict[str, int] = dict.fromkeys(state.projects, 0)
        self._queries_done: dict[str, int] = dict.fromkeys(state.projects, 0)
        self._open_paths: set[str] = set()
        self._started_at: float | None = None
        self._ended_at: float | None = None
        self._cancelled = False
        self.done = threading.Event()

    def report(self) -> RestoreReport:
        """A consistent snapshot of the counters."""
        with self._lock:
            started = self._started_at or 0.0
            ended = self._ended_at if self._ended_at is not None else self._clock()
            return RestoreReport(
                **self._counts,
                started_at=started,
                duration_seconds=max(0.0, ended - started) if self._started_at else 0.0,
                finished=self.done.is_set(),
                cancelled=self._cancelled,
            )

    def unrestored(self) -> CacheState:
        """The entries not processed yet, including projects that are not open in this run."""
        with self._lock:
            projects = {}
            for path, entry in self.state.projects.items():
                files = entry.loaded_files[self._files_done[path] :]
                queries = entry.cached_queries[self._queries_done[path] :]
                if files or queries:
                    projects[path] = ProjectCacheState(files, queries, entry.last_accessed)
            return CacheState(timestamp=self.state.timestamp, projects=projects)

    def run(self, stop: threading.Event | None = None) -> RestoreReport:
        """Warm files, then re-run queries; returns early (cancelled) once `stop` is set."""
        stop = stop or threading.Event()
        with self._lock:
            self._started_at = self._clock()
        try:
            for path, project in self._open_projects():
                # After the project's first index (or sync) only: indexing drops the loaded
                # copies of files it (re)indexes, which would undo a warm-up done earlier.
                if stop.is_set() or not self._wait_ready(project, stop):
                    break
                self._warm_files(path, project, stop)
                self._rerun_queries(path, project, stop)
        finally:
            with self._lock:
                self._cancelled = stop.is_set()
                self._ended_at = self._clock()
            self.done.set()
        report = self.report()
        log.info("cache restore %s: %s", "cancelled" if report.cancelled else "done", report)
        return report

    def _open_projects(self) -> list[tuple[str, Any]]:
        found = []
        for path in self.state.projects:
            project = find_project(self.engine, path)
            if project is None:
                self._count("projects_not_open")
            else:
                found.append((path, project))
                self._open_paths.add(path)
                self._count("projects_restored")
        return found

    def _warm_files(self, path: str, project: Any, stop: threading.Event) -> None:
        root = Path(project_key(project)).resolve()
        records = self.state.projects[path].loaded_files
        self._skip_over_cap(path, records, project.loaded_files, "files")
        for record in records[self._files_done[path] :]:
            if stop.is_set():
                return
            self._count(self._warm_one_file(project, root, record))
            with self._lock:
                self._files_done[path] += 1

    def _skip_over_cap(self, path: str, records: tuple, cache: Any, kind: str) -> None:
        """Skip the oldest entries the cache's cap (maybe lowered since the save) would evict
        as soon as the newer ones are restored: warming them would be wasted work."""
        cap = getattr(cache, "max_entries", None)
        excess = len(records) - cap if isinstance(cap, int) else 0
        if excess <= 0:
            return
        with self._lock:
            done = self._files_done if kind == "files" else self._queries_done
            done[path] += excess
            self._counts[f"{kind}_over_cap"] += excess

    def _warm_one_file(self, project: Any, root: Path, record: LoadedFileRecord) -> str:
        target = resolve_inside(root, record.path)
        if target is None:
            log.warning("restore: refusing %r, it is not inside %s", record.path, root)
            return "files_rejected"
        try:
            info = os.stat(target)
        except OSError:
            return "files_skipped_missing"
        if record.mtime_ns is not None and (
            info.st_mtime_ns != record.mtime_ns or info.st_size != record.size
        ):
            return "files_skipped_changed"
        try:
            warm_file(project, record.path, target)
        except Exception as error:  # one unreadable file must not end the restore
            log.warning("restore: could not load %s: %s", target, error)
            return "files_failed"
        return "files_restored"

    def _wait_ready(self, project: Any, stop: threading.Event) -> bool:
        ready = getattr(project, "ready", None)
        if ready is None:
            return True
        while not ready.wait(_READY_POLL_SECONDS):
            if stop.is_set():
                return False
        return True

    def _rerun_queries(self, path: str, project: Any, stop: threading.Event) -> None:
        records = self.state.projects[path].cached_queries
        self._skip_over_cap(path, records, project.query_cache, "queries")
        for record in records[self._queries_done[path] :]:
            if stop.is_set():
                return
            self._count(self._rerun_one(project, record))
            with self._lock:
                self._queries_done[path] += 1

    def _rerun_one(self, project: Any, record: CachedQueryRecord) -> str:
        try:
            rerun_query(self.engine, project, record)
        except Exception as error:  # a query that no longer parses or matches is just dropped
            log.info("restore: query %r not re-run: %s", record.query, error)
            return "queries_failed"
        return "queries_restored"

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1
