"""Graceful shutdown and fast restore: what `MemoryManager.graceful_shutdown()` and
`MemoryManager.restore_cache_state()` delegate to.

- `save_cache_state(engine)` writes `$LEINDEX_HOME/cache_state.json` atomically, keeping the
  entries of projects not open in this run and the part of a restore not yet done.
- `load_cache_state(home)` reads it; a corrupt or unknown-version file is set aside
  (renamed with a timestamp) with a warning, and the start continues clean.
- `restore_cache_state(engine)` re-warms loaded files and re-runs cached queries; with
  `background=True` it returns at once and the engine keeps serving meanwhile.
- `graceful_shutdown(engine)` stops monitoring, saves, closes the engine; idempotent.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import atomic
from engine.atomic import set_aside
from engine.lifecycle.cache_state import (
    CACHE_STATE_FILE_NAME,
    CacheState,
    CacheStateError,
    ProjectCacheState,
    read_cache_state,
    write_cache_state,
)
from engine.lifecycle.engine_adapter import capture_project, open_projects, project_key
from engine.lifecycle.restore import CacheRestorer, RestoreReport

log = logging.getLogger(__name__)

__all__ = [
    "CACHE_STATE_FILE_NAME",
    "CacheRestorer",
    "LoadOutcome",
    "RestoreReport",
    "ShutdownReport",
    "cache_state_path",
    "capture_cache_state",
    "graceful_shutdown",
    "load_cache_state",
    "remove_stale_temp_files",
    "restore_cache_state",
    "save_cache_state",
]

# A restore in progress, per engine, so a save in the middle of it keeps what is not restored.
_active_restores: weakref.WeakKeyDictionary[Any, CacheRestorer] = weakref.WeakKeyDictionary()
_shutdowns: weakref.WeakKeyDictionary[Any, _ShutdownOnce] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()
_RESTORE_STOP_WAIT_SECONDS = 2.0


def _default_home() -> Path:
    from engine.config import leindex_home

    return leindex_home()


def cache_state_path(engine: Any = None, home: Path | None = None) -> Path:
    """`<home>/cache_state.json`, home being `home`, else the engine's, else LEINDEX_HOME."""
    if home is None:
        home = getattr(engine, "home", None) or _default_home()
    return Path(home) / CACHE_STATE_FILE_NAME


@dataclass(frozen=True)
class LoadOutcome:
    """The state read at start (None if none or unusable) and any warning to show."""

    state: CacheState | None
    warning: str | None = None
    set_aside_path: Path | None = None


def load_cache_state(path: Path) -> LoadOutcome:
    """Read the state file; set a bad one aside with a warning instead of failing the start."""
    try:
        return LoadOutcome(read_cache_state(path))
    except CacheStateError as error:
        moved = _set_aside_quietly(path, error.reason)
        warning = f"cache state {error}; " + (
            f"moved to {moved.name}, starting without a warm cache"
            if moved
            else "could not move it aside, starting without a warm cache"
        )
        log.warning(warning)
        return LoadOutcome(None, warning, moved)
    except OSError as error:
        warning = f"cache state {path} could not be read ({error}); starting without a warm cache"
        log.warning(warning)
        return LoadOutcome(None, warning)


def remove_stale_temp_files(home: Path) -> int:
    """Delete temp files a killed writer left next to `cache_state.json`; returns how many.

    Only the pidfile's owner calls this, so no live writer's temp file is removed.
    """
    return atomic.remove_stale_temp_files(home, None, CACHE_STATE_FILE_NAME)


def _set_aside_quietly(path: Path, reason: str) -> Path | None:
    try:
        return set_aside(path, reason)
    except OSError as error:
        log.error("could not set aside %s: %s", path, error)
        return None


def capture_cache_state(
    engine: Any, clock: Callable[[], float] = time.time, carry: CacheState | None = None
) -> CacheState:
    """The engine's caches as a `CacheState`, merged with `carry` (entries to keep)."""
    projects: dict[str, ProjectCacheState] = {}
    for project in open_projects(engine):
        projects[project_key(project)] = capture_project(project)
    if carry is not None:
        for path, kept in carry.projects.items():
            if path in projects:
                projects[path] = _merge(kept, projects[path])
            elif os.path.isdir(path):
                projects[path] = kept  # not open in this run: keep it for the next one
    return CacheState(timestamp=clock(), projects=projects)


def _merge(older: ProjectCacheState, newer: ProjectCacheState) -> ProjectCacheState:
    """`older` entries first (they are older than anything cached in this run), no duplicates."""

    def ordered(old, new, key):
        seen = {key(item) for item in new}
        return tuple(item for item in old if key(item) not in seen) + tuple(new)

    return ProjectCacheState(
        ordered(older.loaded_files, newer.loaded_files, lambda r: r.path),
        ordered(older.cached_queries, newer.cached_queries, lambda r: r),
        max(older.last_accessed, newer.last_accessed),
    )


def save_cache_state(
    engine: Any, home: Path | None = None, clock: Callable[[], float] = time.time
) -> CacheState:
    """Persist the engine's cache state atomically and return what was written.

    Kept besides the open projects' caches: the not-yet-restored part of a restore still
    running, and the saved entries of projects that are not open in this run (if their
    directory still exists).
    """
    path = cache_state_path(engine, home)
    with _registry_lock:
        restorer = _active_restores.get(engine)
    if restorer is not None:
        # What this run's restore has not reached yet (all of it for projects not open);
        # what it did restore is in the caches now, or was dropped on purpose since.
        carry = restorer.unrestored()
    else:
        # No restore ran: keep the saved entries of projects not open in this run only, so
        # that entries evicted or cleaned now do not come back in every later save.
        saved = load_cache_state(path).state
        open_keys = {project_key(project) for project in open_projects(engine)}
        carry = None
        if saved is not None:
            kept = {key: entry for key, entry in saved.projects.items() if key not in open_keys}
            carry = CacheState(timestamp=saved.timestamp, projects=kept)
    state = capture_cache_state(engine, clock, carry)
    write_cache_state(path, state)
    log.info(
        "saved cache state: %d projects, %d loaded files, %d cached queries to %s",
        len(state.projects),
        state.loaded_file_count,
        state.cached_query_count,
        path,
    )
    return state


def restore_cache_state(
    engine: Any,
    home: Path | None = None,
    *,
    background: bool = False,
    stop: threading.Event | None = None,
    state: CacheState | None = None,
) -> CacheRestorer | None:
    """Restore the saved state into `engine`; None when there is nothing to restore.

    With `background=True` the work runs on a daemon thread and this returns at once; the
    returned restorer's `done` event and `report()` tell how far it got.
    """
    if state is None:
        state = load_cache_state(cache_state_path(engine, home)).state
    if state is None or not state.projects:
        return None
    restorer = CacheRestorer(engine, state)
    with _registry_lock:
        _active_restores[engine] = restorer
    if background:
        thread = threading.Thread(
            target=restorer.run, args=(stop,), name="leindex-restore", daemon=True
        )
        thread.start()
    else:
        restorer.run(stop)
    return restorer


@dataclass(frozen=True)
class ShutdownReport:
    """What the (first) graceful shutdown of an engine did."""

    state_path: Path | None
    projects_saved: int = 0
    loaded_files_saved: int = 0
    cached_queries_saved: int = 0
    errors: tuple[str, ...] = ()


class _ShutdownOnce:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.report: ShutdownReport | None = None


def graceful_shutdown(
    engine: Any,
    home: Path | None = None,
    *,
    stop_monitoring: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.time,
    cancel_restore: threading.Event | None = None,
    save_state: bool = True,
) -> ShutdownReport:
    """Stop monitoring, persist `cache_state.json`, close the engine. Idempotent.

    A second call (another thread, a signal during a quit) waits for the first to finish
    and returns its report, so nobody exits before the state is on disk. `save_state=False`
    (a second instance that does not own the home) skips the save so as not to overwrite
    the owner's file.
    """
    with _registry_lock:
        once = _shutdowns.get(engine)
        first = once is None
        if first:
            once = _shutdowns[engine] = _ShutdownOnce()
    if not first:
        once.done.wait()
        return once.report  # type: ignore[return-value]
    errors: list[str] = []
    saved: CacheState | None = None
    path: Path | None = None
    try:
        if stop_monitoring is not None:
            _step(errors, "stop monitoring", stop_monitoring)
        if cancel_restore is not None:
            cancel_restore.set()
            with _registry_lock:
                restorer = _active_restores.get(engine)
            if restorer is not None:
                # Let the restore finish its current item before the engine closes under it;
                # whatever it has not reached is saved from `unrestored()` anyway.
                restorer.done.wait(_RESTORE_STOP_WAIT_SECONDS)
        path = cache_state_path(engine, home)
        if save_state:
            saved = _step(errors, "save cache state", lambda: save_cache_state(engine, home, clock))
        close = getattr(engine, "close", None)
        if close is not None:
            _step(errors, "close indexes", close)
    finally:
        once.report = ShutdownReport(
            state_path=path if saved is not None else None,
            projects_saved=len(saved.projects) if saved else 0,
            loaded_files_saved=saved.loaded_file_count if saved else 0,
            cached_queries_saved=saved.cached_query_count if saved else 0,
            errors=tuple(errors),
        )
        once.done.set()
    return once.report


def _step(errors: list[str], what: str, action: Callable[[], Any]) -> Any:
    """Run one shutdown step; a failure is logged and recorded, and the next steps still run."""
    try:
        return action()
    except Exception as error:
        log.exception("graceful shutdown: %s failed", what)
        errors.append(f"{what}: {error}")
        return None
