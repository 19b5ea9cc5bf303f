"""Watches `$LEINDEX_HOME/config.yaml` and `projects/*.yaml` and calls back when they change.

Directories are watched, not files: editors save by writing a temp file and renaming it over
the original, which replaces the inode a file watch would be attached to. Only the two
directories are watched, non-recursively, so index and spill writes under `LEINDEX_HOME`
cost nothing here.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchfiles._rust_notify import RustNotify

from engine.atomic import ensure_private_dir

log = logging.getLogger(__name__)

CONFIG_FILE_NAME = "config.yaml"
PROJECTS_DIR_NAME = "projects"
PROJECT_FILE_SUFFIXES = (".yaml", ".yml")

# After the first event, wait this long for the rest of an editor's save (write temp, rename,
# chmod) before calling back; a burst is then one reload. `debounce` caps the wait.
DEFAULT_STEP_MS = 25
DEFAULT_DEBOUNCE_MS = 250
# How often the thread wakes without events to notice a replaced or deleted directory.
_IDLE_CHECK_MS = 1000
_RETRY_SECONDS = 1.0


def is_config_file(home: Path, path: Path) -> bool:
    """True for `home/config.yaml` and `home/projects/<name>.yaml` (not editor temp files)."""
    path = Path(path)
    if path.name.startswith("."):
        return False  # vim/emacs/atomic-write temp files
    if path.parent == home:
        return path.name == CONFIG_FILE_NAME
    return path.parent == home / PROJECTS_DIR_NAME and path.suffix in PROJECT_FILE_SUFFIXES


class ConfigWatcher:
    """A daemon thread calling `on_change(paths)` after config files are created, changed,
    deleted or replaced; `stop()` ends it. Callback errors are logged and watching goes on."""

    def __init__(
        self,
        home: Path,
        on_change: Callable[[tuple[Path, ...]], None],
        *,
        step_ms: int = DEFAULT_STEP_MS,
        debounce_ms: int = DEFAULT_DEBOUNCE_MS,
        name: str = "leindex-config-watcher",
    ) -> None:
        self.home = Path(home).absolute()
        self._on_change = on_change
        self._step_ms = step_ms
        self._debounce_ms = debounce_ms
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def running(self) -> bool:
        """True while the watcher thread is alive."""
        return self._thread.is_alive()

    def start(self) -> None:
        """Start watching on the daemon thread (returns at once)."""
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the OS watches are in place (a write after this is seen); True if so."""
        return self._ready.wait(timeout)

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the thread to finish and wait up to `timeout` seconds for it. Idempotent."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _watched_dirs(self) -> list[Path]:
        projects = self.home / PROJECTS_DIR_NAME
        ensure_private_dir(projects)
        return [self.home, projects]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._watch_until_dirs_change()
            except Exception:
                log.exception("config watcher on %s failed; retrying", self.home)
                self._stop.wait(_RETRY_SECONDS)

    def _watch_until_dirs_change(self) -> None:
        directories = self._watched_dirs()
        identity = _dir_identity(directories)
        notify = RustNotify([str(d) for d in directories], False, False, 300, False, False)
        try:
            self._ready.set()
            while not self._stop.is_set():
                result = notify.watch(self._debounce_ms, self._step_ms, _IDLE_CHECK_MS, self._stop)
                if isinstance(result, set):
                    changed = sorted(
                        {Path(raw) for _, raw in result if is_config_file(self.home, Path(raw))}
                    )
                    if changed:
                        self._notify(tuple(changed))
                if _dir_identity(directories) != identity:
                    # A watched directory was deleted or replaced: the inotify watch died with
                    # it, so re-create the directories and watch them afresh.
                    log.info("config directories under %s changed; re-watching", self.home)
                    self._notify((self.home / CONFIG_FILE_NAME,))
                    return
        finally:
            notify.close()

    def _notify(self, paths: tuple[Path, ...]) -> None:
        try:
            self._on_change(paths)
        except Exception:
            log.exception("config change callback failed for %s", ", ".join(map(str, paths)))


def _dir_identity(directories: list[Path]) -> tuple[tuple[int, int] | None, ...]:
    identities: list[tuple[int, int] | None] = []
    for directory in directories:
        try:
            info = os.stat(directory)
            identities.append((info.st_dev, info.st_ino))
        except OSError:
            identities.append(None)
    return tuple(identities)
