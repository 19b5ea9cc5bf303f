"""POSIX signal handling that does no work in the handler: it only queues the signal number.

A Python signal handler runs on the main thread between two bytecodes, possibly while that
thread holds a lock the real work needs (a cache lock, the logging lock, the config swap).
So the handler only puts the number on a `queue.SimpleQueue` (whose `put` is documented as
safe to call from signal handlers) and a daemon thread does the reload or shutdown.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
from collections.abc import Callable, Mapping
from types import FrameType

log = logging.getLogger(__name__)

SignalCallback = Callable[[int], None]
_STOP = -1


class SignalRelay:
    """Relays chosen signals to callbacks run on a dedicated daemon thread, in arrival order."""

    def __init__(self, callbacks: Mapping[int, SignalCallback], name: str = "leindex-signals"):
        self._callbacks = dict(callbacks)
        self._pending: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._previous: dict[int, object] = {}
        self._name = name
        self._thread = threading.Thread(target=self._dispatch_loop, name=name, daemon=True)
        self._started = False
        self._exit_code: int | None = None
        self._stopped = False

    @property
    def installed_signals(self) -> tuple[int, ...]:
        """The signals whose handlers this relay currently owns."""
        return tuple(self._previous)

    def install(self) -> tuple[int, ...]:
        """Install the handlers (main thread only, as Python requires) and start the dispatcher."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("signal handlers can only be installed from the main thread")
        if self._stopped:  # installed again after an uninstall: a fresh dispatcher
            self._thread = threading.Thread(
                target=self._dispatch_loop, name=self._name, daemon=True
            )
            self._started = self._stopped = False
        if not self._started:
            self._thread.start()
            self._started = True
        for signum in self._callbacks:
            if signum not in self._previous:
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self.installed_signals

    def uninstall(self) -> None:
        """Put the previous handlers back (main thread only) and stop the dispatcher thread."""
        if threading.current_thread() is threading.main_thread():
            for signum, previous in self._previous.items():
                signal.signal(signum, previous)  # type: ignore[arg-type]
            self._previous.clear()
        if self._started and not self._stopped:
            self._stopped = True
            self._pending.put(_STOP)

    def deliver(self, signum: int) -> None:
        """Queue `signum` as if it had arrived (used by tests and by callers on other threads)."""
        self._pending.put(signum)

    def exit_main_thread(self, signum: int, code: int) -> None:
        """Make the main thread raise `SystemExit(code)` (called once the work is done).

        The signal is re-sent to the main thread itself (pthread_kill), so even a main
        thread blocked in a wait is interrupted and runs the handler, which then exits.
        """
        self._exit_code = code
        signal.pthread_kill(threading.main_thread().ident, signum)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Nothing but the queue: no logging, no locks (see the module docstring).
        if self._exit_code is not None:
            raise SystemExit(self._exit_code)
        if self._stopped:
            # Uninstalled from another thread (handlers can only be swapped on the main one):
            # behave as the handler we replaced would have.
            self._act_as_previous(signum, frame)
            return
        self._pending.put(signum)

    def _act_as_previous(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous.get(signum, signal.SIG_DFL)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def _dispatch_loop(self) -> None:
        while True:
            signum = self._pending.get()
            if signum == _STOP:
                return
            callback = self._callbacks.get(signum)
            if callback is None:
                continue
            try:
                callback(signum)
            except Exception:
                # One failing callback must not stop later signals from being handled.
                log.exception("handling signal %s failed", signal_name(signum))


def signal_name(signum: int) -> str:
    """`SIGHUP` for 1, and so on; the number itself if unknown."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)
