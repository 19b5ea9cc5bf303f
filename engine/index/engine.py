"""The engine: projects, their indexing and watching, searches, and the caps across projects."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.config import ProjectSettings, get_config, leindex_home
from engine.index import indexer, searcher
from engine.index.caches import (
    LOADED_FILES,
    QUERY_CACHE,
    ByteAccountedLRU,
    CacheTotals,
    DropResult,
    QueryKey,
    normalise_query,
)
from engine.index.embed import Embedder
from engine.index.errors import QuerySyntaxError
from engine.index.fulltext import writer_heap_bytes
from engine.index.project import Project
from engine.index.registry import ProjectRegistry
from engine.index.results import SEARCH_MODES, IndexProgress, SearchHit, SearchResponse
from engine.index.walker import IgnoreRules
from engine.index.watcher import ProjectWatcher
from engine.priority import ProjectPriority

log = logging.getLogger(__name__)

ProgressCallback = Callable[[IndexProgress], None]
# Shares of the memory budget the two caches may hold in bytes, across all projects
# (the guide's breakdown: loaded content 16 %, query cache 8 %).
LOADED_CONTENT_BUDGET_SHARE = 0.16
QUERY_CACHE_BUDGET_SHARE = 0.08
MAX_SEARCH_LIMIT = 10_000


class Engine:
    """Projects, their indexes and caches; every public method is thread-safe."""

    def __init__(
        self,
        home: Path | None = None,
        config_provider: Callable[[], Any] | None = None,
        embedder: Embedder | None = None,
        watch_files: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.home = Path(home) if home is not None else leindex_home()
        self.indexes_dir = self.home / "indexes"
        self._config_provider = config_provider or get_config
        self.embedder_warning: str | None = None
        self._embedder_spec: str | None = None  # None: given by the caller, not configured
        self.embedder = embedder or self._configured_embedder(self._config_provider())
        self.watch_files = watch_files
        self.clock = clock
        self.totals = CacheTotals()
        self.registry = ProjectRegistry(self.indexes_dir, self._new_project)
        self._lock = threading.Lock()
        self._watchers: dict[str, ProjectWatcher] = {}
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._reported_gone: set[str] = set()  # projects whose directory vanished, logged once
        self._global_caps = self._caps_from(self._config_provider())

    # -- configuration ----------------------------------------------------------------------

    @staticmethod
    def _caps_from(config: Any) -> dict[str, Any]:
        memory = config.memory
        budget_bytes = float(memory.total_budget_mb) * 1024 * 1024
        return {
            "entries": {
                LOADED_FILES: int(memory.max_loaded_files),
                QUERY_CACHE: int(memory.max_cached_queries),
            },
            "bytes": {
                LOADED_FILES: int(budget_bytes * LOADED_CONTENT_BUDGET_SHARE),
                QUERY_CACHE: int(budget_bytes * QUERY_CACHE_BUDGET_SHARE),
            },
            "heap": writer_heap_bytes(float(memory.total_budget_mb)),
        }

    def _settings_for(self, config: Any, name: str) -> ProjectSettings:
        resolve = getattr(config, "project_settings", None)
        if resolve is None:
            defaults = config.memory.project_defaults
            return ProjectSettings(
                defaults.max_loaded_files, defaults.max_cached_queries, defaults.priority
            )
        return resolve(name)

    def apply_config(self, config: Any | None = None) -> tuple[int, int]:
        """Re-read caps and priorities for every project and trim caches to the new caps.

        Returns (loaded files dropped, cached queries dropped).
        """
        config = config if config is not None else self._config_provider()
        self._global_caps = caps = self._caps_from(config)
        files = queries = 0
        for project in self.registry.list():
            project.settings = settings = self._settings_for(config, project.name)
            files += project.loaded_files.set_caps(
                settings.max_loaded_files, caps["bytes"][LOADED_FILES]
            ).entries
            queries += project.query_cache.set_caps(
                settings.max_cached_queries, caps["bytes"][QUERY_CACHE]
            ).entries
            if project.fulltext is not None:
                project.fulltext.heap_bytes = caps["heap"]
        files += self._enforce_global_caps(LOADED_FILES).entries
        queries += self._enforce_global_caps(QUERY_CACHE).entries
        self.apply_embedder_config(config)
        return files, queries

    # -- embedder (index.embedder / LEINDEX_EMBEDDER) ---------------------------------------

    def _configured_embedder(self, config: Any) -> Embedder:
        from engine.index.embedder_choice import choose_embedder, configured_spec

        self._embedder_spec = configured_spec(config)
        choice = choose_embedder(self._embedder_spec, self.home)
        self.embedder_warning = choice.warning
        return choice.embedder

    def switch_embedder(self, embedder: Embedder) -> list[threading.Thread]:
        """Use `embedder` from now on; each project's vectors are rebuilt in the background
        while searches answer from the old ones. Returns the rebuild threads."""
        from engine.index.embedder_switch import start_rebuild

        self.embedder = embedder
        threads = [
            start_rebuild(project, embedder)
            for project in self.registry.list()
            if project.embedder.name != embedder.name
            and getattr(project, "rebuild_target", None) != embedder.name
        ]
        with self._lock:
            self._threads.extend(threads)
        return threads

    def apply_embedder_config(self, config: Any | None = None) -> list[threading.Thread]:
        """Re-read the embedder setting; switch (rebuilding in the background) if it changed."""
        if self._embedder_spec is None:
            return []
        from engine.index.embedder_choice import configured_spec

        config = config if config is not None else self._config_provider()
        if configured_spec(config) == self._embedder_spec:
            return []
        embedder = self._configured_embedder(config)
        return self.switch_embedder(embedder) if embedder.name != self.embedder.name else []

    # -- global caps and totals -------------------------------------------------------------

    def _caches_of(self, kind: str) -> list[ByteAccountedLRU]:
        attribute = "loaded_files" if kind == LOADED_FILES else "query_cache"
        return [getattr(project, attribute) for project in self.registry.list()]

    def _enforce_global_caps(self, kind: str) -> DropResult:
        """Evict the globally oldest entries of `kind` until the cross-project caps hold."""
        max_entries = self._global_caps["entries"][kind]
        max_bytes = self._global_caps["bytes"][kind]
        dropped = DropResult()
        while self.totals.entries(kind) > max_entries or self.totals.bytes(kind) > max_bytes:
            oldest = None
            for cache in self._caches_of(kind):
                stamp = cache.oldest_stamp()
                if stamp is not None and (oldest is None or stamp < oldest[0]):
                    oldest = (stamp, cache)
            if oldest is None:
                break
            dropped = dropped + oldest[1].drop_oldest(1)
        return dropped

    def _on_cache_insert(self, cache: ByteAccountedLRU) -> None:
        kind = cache.kind
        caps = self._global_caps
        if (
            self.totals.entries(kind) > caps["entries"][kind]
            or self.totals.bytes(kind) > caps["bytes"][kind]
        ):
            self._enforce_global_caps(kind)

    @property
    def loaded_files(self) -> int:
        """Loaded files over all projects (O(1))."""
        return self.totals.loaded_files

    @property
    def cached_queries(self) -> int:
        """Cached queries over all projects (O(1))."""
        return self.totals.cached_queries

    @property
    def loaded_content_bytes(self) -> int:
        """Bytes of loaded file contents over all projects (O(1))."""
        return self.totals.loaded_content_bytes

    @property
    def query_cache_bytes(self) -> int:
        """Bytes of cached results over all projects (O(1))."""
        return self.totals.query_cache_bytes

    def index_bytes(self) -> int:
        """hnswlib in memory plus tantivy's mapped RSS, over all projects (reads smaps)."""
        return sum(project.index_bytes for project in self.registry.list())

    # -- projects ---------------------------------------------------------------------------

    def _new_project(self, name: str, path: Path, index_dir: Path) -> Project:
        config = self._config_provider()
        caps = self._global_caps
        project = Project(
            name,
            path,
            index_dir,
            self._settings_for(config, name),
            self.totals,
            self.embedder,
            (caps["bytes"][LOADED_FILES], caps["bytes"][QUERY_CACHE]),
            clock=self.clock,
            excluded_paths=(self.home.resolve(),),
        )
        project.loaded_files.on_insert = self._on_cache_insert
        project.query_cache.on_insert = self._on_cache_insert
        return project

    def add_project(
        self,
        path: str | Path,
        priority: ProjectPriority | str | None = None,
        on_progress: ProgressCallback | None = None,
        exclude: tuple[str, ...] = (),
    ) -> Project:
        """Register `path` and index it (blocking: callers run this off the UI thread).

        `exclude` adds gitignore-style patterns to the project's ignore rules.
        """
        project = self._register(path, priority, exclude)
        failures: list[Exception] = []

        def index() -> None:
            try:
                self._index(project, on_progress)
            except Exception as error:
                failures.append(error)

        # On a thread close() joins, never the caller's: a shutdown stops it between files.
        self._start_index_thread(project, index).join()
        if failures:
            raise failures[0]
        return project

    def _start_index_thread(self, project: Project, target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=target, name=f"leindex-index-{project.name}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    def index_project_async(
        self,
        path: str | Path,
        priority: ProjectPriority | str | None = None,
        on_progress: ProgressCallback | None = None,
        exclude: tuple[str, ...] = (),
        should_stop: Callable[[], bool] | None = None,
    ) -> Project:
        """Register `path` and index it on a thread; `project.ready` is set when done.

        `should_stop` returning True ends the first index early: the part done is saved and
        the project is unregistered, so the next add resumes from the saved part.
        """
        project = self._register(path, priority, exclude)
        self._start_index_thread(
            project, lambda: self._index_in_background(project, on_progress, should_stop)
        )
        return project

    def _register(
        self, path: str | Path, priority: ProjectPriority | str | None, exclude: tuple[str, ...]
    ) -> Project:
        if self._closed:
            raise RuntimeError("the engine is closed")
        project = self.registry.add(path)
        if exclude and not project.ready.is_set():
            project.rules = IgnoreRules(project.path, tuple(exclude), (self.home.resolve(),))
            project.exclude = tuple(exclude)
        if priority is not None:
            self.set_priority(project.name, priority)
        return project

    def _index_in_background(
        self,
        project: Project,
        on_progress: ProgressCallback | None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        # A failure is already logged and recorded in project.progress (phase "error").
        with contextlib.suppress(Exception):
            self._index(project, on_progress, should_stop)

    def _index(
        self,
        project: Project,
        on_progress: ProgressCallback | None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        if project.ready.is_set():
            project.touch()
            return
        wanted = self._keep_saved_embedder(project)
        try:
            indexer.open_project(project, self._global_caps["heap"], on_progress, should_stop)
        except Exception as error:
            log.exception("%s: indexing failed", project.name)
            failed = IndexProgress(
                project.progress.files_done,
                project.progress.files_total,
                project.progress.bytes_done,
                "error",
                str(error),
            )
            project.set_progress(failed)
            if on_progress is not None:
                on_progress(failed)
            raise
        if should_stop is not None and should_stop() and not self._closed:
            # Cancelled part-way: unregistering saves the part done (close() saves it itself).
            with contextlib.suppress(LookupError):
                self.remove_project(project.name)
            return
        if wanted is not None:
            self.switch_embedder(wanted)
        if self.watch_files and not self._closed:
            self._start_watcher(project)

    def _keep_saved_embedder(self, project: Project) -> Embedder | None:
        """Open an index saved with another embedder with that one (so full-text is kept
        and vectors load); returns the configured one to switch to in the background."""
        from engine.index.embedder_choice import saved_embedder

        old = saved_embedder(project.index_dir, project.embedder.name, self.home)
        if old is None:
            return None
        project.embedder = old
        return self.embedder

    def _start_watcher(self, project: Project) -> None:
        with self._lock:
            if project.name in self._watchers:
                return
            watcher = ProjectWatcher(project, self._apply_watched_changes)
            self._watchers[project.name] = watcher
        watcher.start()

    def _apply_watched_changes(self, project: Project, rels: set[str], resync: bool) -> None:
        with project.indexing_lock:
            if resync:
                indexer.sync(project)
            else:
                indexer.update_paths(project, sorted(rels))

    def set_priority(self, name: str, priority: ProjectPriority | str) -> Project:
        """Override a project's priority for this run (the configured one applies otherwise)."""
        project = self.registry.get(name)
        if not isinstance(priority, ProjectPriority):
            priority = ProjectPriority.from_name(priority)
        project.priority_override = priority
        return project

    def remove_project(self, name: str) -> DropResult:
        """Stop watching, save, drop the caches and unregister; the index stays on disk."""
        project = self.registry.remove(name)
        return self._close_project(project)

    def _close_project(self, project: Project) -> DropResult:
        with self._lock:
            watcher = self._watchers.pop(project.name, None)
        if watcher is not None:
            watcher.stop()
        project.closing = True
        with project.lock:
            try:
                project.persist()
            except OSError as error:
                log.warning("%s: index not saved: %s", project.name, error)
            project.closed = True
            dropped = project.loaded_files.invalidate() + project.query_cache.invalidate()
            project.set_vectors(None)
            project.fulltext = None
        return dropped

    def update_files(self, name: str, rels: list[str]) -> int:
        """Re-index just these files of a project now (what the watcher does on a change)."""
        return indexer.update_paths(self.registry.get(name), rels)

    # -- search -----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        mode: str = "fulltext",
        project: str | None = None,
        limit: int = 20,
        literal: bool = False,
    ) -> SearchResponse:
        """Search one project (or all); raises QuerySyntaxError, UnknownProjectError."""
        started = time.perf_counter()
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown search mode {mode!r}; allowed: {', '.join(SEARCH_MODES)}")
        if (
            not isinstance(limit, int)
            or isinstance(limit, bool)
            or not 1 <= limit <= MAX_SEARCH_LIMIT
        ):
            raise ValueError(f"limit must be an integer from 1 to {MAX_SEARCH_LIMIT}: {limit!r}")
        if not isinstance(query, str):
            raise QuerySyntaxError(str(query), "the query must be text")
        text = query if literal else normalise_query(query)
        if not text.strip():
            raise QuerySyntaxError(query, "the query is empty")
        targets = [self.registry.get(project)] if project is not None else self.registry.list()
        if not targets:
            return SearchResponse((), mode, query, False, 0.0)
        all_cached = True
        per_project: list[tuple[SearchHit, ...]] = []
        notes: list[str] = []
        for target in targets:
            hits, cached = self._search_project(target, text, mode, limit, literal, notes)
            all_cached = all_cached and cached
            per_project.append(hits)
        hits = per_project[0] if len(per_project) == 1 else _merge(per_project, limit)
        duration_ms = (time.perf_counter() - started) * 1000.0
        return SearchResponse(tuple(hits), mode, query, all_cached, duration_ms, tuple(notes))

    def _search_project(
        self,
        project: Project,
        text: str,
        mode: str,
        limit: int,
        literal: bool,
        notes: list[str] | None = None,
    ) -> tuple[tuple[SearchHit, ...], bool]:
        project.touch()
        if notes is not None and not project.path.is_dir():
            notes.append(self._gone_note(project))
        if notes is not None and project.index_note:
            notes.append(project.index_note)
        key = QueryKey(text, mode, project.name, limit, literal)
        cached = project.query_cache.get(key)
        if cached is not None:
            return cached, True
        generation = project.generation
        if mode == "fulltext":
            hits = searcher.fulltext_hits(project, text, limit, literal)
        elif mode == "semantic":
            hits = searcher.semantic_hits(project, text, limit)
        else:
            hits = searcher.hybrid_hits(project, text, limit, literal)
        result = tuple(hits)
        degraded = mode != "fulltext" and bool(project.semantic_note)
        if degraded and notes is not None:
            notes.append(project.semantic_note)
        # Results from a project still indexing, or computed across an update, are not kept;
        # nor is a degraded or empty semantic answer (it would hide a later, working one).
        if degraded or (mode == "semantic" and not result):
            return result, False
        if project.ready.is_set() and project.generation == generation:
            project.query_cache.put(key, result)
        return result, False

    def _gone_note(self, project: Project) -> str:
        note = (
            f"{project.name}: {project.path} is gone (deleted or renamed); "
            "its results come from the last index"
        )
        if project.name not in self._reported_gone:
            self._reported_gone.add(project.name)
            log.warning("%s", note)
        return note

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop watchers and indexing threads, save every project, release the caches."""
        self._closed = True
        for project in self.registry.list():
            project.closed = True  # makes a running initial index stop early
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=30)
        for project in self.registry.list():
            project.closed = False
            self._close_project(project)
        # A model's weights were reserved when it was loaded (see transformer_embedder).
        getattr(self.embedder, "close", lambda: None)()


def _merge(results: list[tuple[SearchHit, ...]], limit: int) -> list[SearchHit]:
    """Results of several projects, interleaved by rank (scores of different indexes do not
    compare)."""
    merged: list[SearchHit] = []
    for rank in range(limit):
        for hits in results:
            if rank < len(hits):
                merged.append(hits[rank])
    return merged[:limit]


_default_engine: Engine | None = None
_default_lock = threading.Lock()


def get_engine() -> Engine:
    """The process-wide engine, created on first use."""
    global _default_engine
    with _default_lock:
        if _default_engine is None:
            _default_engine = Engine()
        return _default_engine


def set_engine(engine: Engine | None) -> None:
    """Install (or with None, forget) the process-wide engine."""
    global _default_engine
    with _default_lock:
        _default_engine = engine
