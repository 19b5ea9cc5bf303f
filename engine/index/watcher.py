"""Watching a project directory: changed files are handed over in debounced batches."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import watchfiles

from engine.index.fulltext import FullTextBusyError
from engine.index.project import Project

log = logging.getLogger(__name__)

DEBOUNCE_MS = 100
# Saving the vector index is a full write: do it once edits have been quiet this long.
PERSIST_AFTER_QUIET_SECONDS = 3.0

# handler(project, changed relative paths, whether a full re-sync is needed)
BatchHandler = Callable[[Project, set[str], bool], None]


class ProjectWatcher:
    """A daemon thread running watchfiles on one project until `stop()`."""

    def __init__(self, project: Project, handler: BatchHandler) -> None:
        self.project = project
        self._handler = handler
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"leindex-watch-{project.name}", daemon=True
        )
        self._last_change = 0.0

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching and wait for the thread (at most `timeout` seconds)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            for changes in watchfiles.watch(
                self.project.path,
                watch_filter=None,
                debounce=DEBOUNCE_MS,
                step=20,
                stop_event=self._stop,
                rust_timeout=500,
                yield_on_timeout=True,
                raise_interrupt=False,
                ignore_permission_denied=True,
            ):
                if self._stop.is_set():
                    break
                if changes:
                    self._dispatch(changes)
                elif self._last_change and time.monotonic() - self._last_change > (
                    PERSIST_AFTER_QUIET_SECONDS
                ):
                    self._last_change = 0.0
                    try:
                        self.project.persist()
                    except Exception:  # a full disk must not end the watch
                        log.exception("%s: saving the index failed", self.project.name)
        except Exception:  # e.g. the inotify watch limit: indexing still works without it
            log.exception("%s: file watching stopped", self.project.name)

    def _dispatch(self, changes: set[tuple[watchfiles.Change, str]]) -> None:
        rels, resync = classify_changes(self.project, changes)
        if not rels and not resync:
            return
        self._last_change = time.monotonic()
        try:
            self._handler(self.project, rels, resync)
        except FullTextBusyError as error:
            # Another leindex on the same home holds the writer: expected, not a crash.
            log.warning("%s: index not updated: %s", self.project.name, error)
        except Exception:  # one failed update must not end the watch
            log.exception("%s: updating the index failed", self.project.name)


def classify_changes(
    project: Project, changes: set[tuple[watchfiles.Change, str]]
) -> tuple[set[str], bool]:
    """Relative paths of changed files, and whether a full re-sync is needed (a directory or
    a .gitignore changed, which can change many files at once)."""
    root = str(project.path)
    known = project.manifest.files if project.manifest is not None else {}
    rels: set[str] = set()
    resync = False
    for _change, absolute in changes:
        if not absolute.startswith(root + os.sep):
            continue
        if project.rules.is_excluded_dir(absolute):
            continue
        rel = absolute[len(root) + 1 :].replace(os.sep, "/")
        if rel.rsplit("/", 1)[-1] == ".gitignore":
            project.rules.forget(rel.rpartition("/")[0])
            resync = True
        elif os.path.isdir(absolute) and not os.path.islink(absolute):
            resync = resync or not project.rules.is_ignored(rel, is_dir=True)
        elif rel in known:
            rels.add(rel)
        elif any(name.startswith(rel + "/") for name in known):
            resync = True  # a directory that is gone, with indexed files in it
        elif not project.rules.is_ignored(rel):
            rels.add(rel)
    return rels, resync
