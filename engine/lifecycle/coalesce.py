"""Coalescing bursts of requests (a SIGHUP storm) into few runs of one action."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Coalescer:
    """Runs `action` at once for a first request, then at most once per `window` seconds
    while requests keep coming: the requests in between merge into one trailing run, so the
    last request is always served and a storm of them costs a handful of runs."""

    def __init__(self, action: Callable[[], object], window: float, name: str) -> None:
        self._action = action
        self._window = window
        self._name = name
        self._lock = threading.Lock()
        self._wanted = False
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """Ask for a run (cheap; safe from any thread)."""
        with self._lock:
            self._wanted = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self._thread = None
                    return
                self._wanted = False
            try:
                self._action()
            finally:
                time.sleep(self._window)  # requests meanwhile merge into the next run
