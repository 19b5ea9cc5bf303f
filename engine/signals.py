"""POSIX signal handling that does no work in the handler: it only reports the signal number.

A Python signal handler runs on the main thread between two bytecodes, possibly while that
thread holds a lock the real work needs (a cache lock, the logging lock, the config swap).
So the handler only puts the number on a `queue.SimpleQueue` (whose `put` is documented as
safe to call from signal handlers) and a daemon thread does the reload or shutdown.

The Python-level handler alone is not enough: the kernel may deliver a signal to any thread,
and then the handler only runs once the main thread executes Python code again. A main
thread parked in a plain lock wait would never see it. So the relay also claims
`signal.set_wakeup_fd` (when no one else, such as an asyncio loop, holds it): the C-level
handler writes the signal number to that pipe from whichever thread it runs on, and a reader
thread passes it on at once. Both paths report every delivery; the dispatcher counts them per
signal and acts on each delivery once, whichever path reports it first.
"""

from __future__ import annotations

import contextlib
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
_HANDLER, _PIPE, _DIRECT = "handler", "pipe", "direct"
_PIPE_STOP_BYTE = b"\x00"  # no signal has number 0


class SignalRelay:
    """Relays chosen signals to callbacks run on a dedicated daemon thread, in arrival order."""

    def __init__(self, callbacks: Mapping[int, SignalCallback], name: str = "leindex-signals"):
        self._callbacks = dict(callbacks)
        self._name = name
        self._previous: dict[int, object] = {}
        self._exit_code: int | None = None
        self._running = False
        self._pending: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
        self._pipe: tuple[int, int] | None = None
        self._threads: list[threading.Thread] = []

    @property
    def installed_signals(self) -> tuple[int, ...]:
        """The signals whose handlers this relay currently owns."""
        return tuple(self._previous)

    @property
    def uses_wakeup_fd(self) -> bool:
        """True if signals also arrive through the wakeup pipe (see the module docstring)."""
        return self._pipe is not None

    def install(self) -> tuple[int, ...]:
        """Install the handlers (main thread only, as Python requires) and start the dispatcher."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("signal handlers can only be installed from the main thread")
        if not self._running:
            self._running = True
            self._pending = queue.SimpleQueue()
            self._start_thread(self._dispatch_loop, self._name)
            self._claim_wakeup_fd()
        for signum in self._callbacks:
            if signum not in self._previous:
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self.installed_signals

    def uninstall(self) -> None:
        """Put the previous handlers back (main thread only) and stop the relay's threads."""
        if threading.current_thread() is threading.main_thread():
            for signum, previous in self._previous.items():
                signal.signal(signum, previous)  # type: ignore[arg-type]
            self._previous.clear()
            self._release_wakeup_fd()
        if self._running:
            self._running = False
            self._pending.put((_DIRECT, _STOP))

    def deliver(self, signum: int) -> None:
        """Queue `signum` as if it had arrived (used by tests and by callers on other threads)."""
        self._pending.put((_DIRECT, signum))

    def exit_main_thread(self, signum: int, code: int) -> None:
        """Make the main thread raise `SystemExit(code)` (called once the work is done).

        The signal is re-sent to the main thread itself (pthread_kill), so even a main
        thread blocked in a wait is interrupted and runs the handler, which then exits.
        """
        self._exit_code = code
        signal.pthread_kill(threading.main_thread().ident, signum)

    # -- the two ways in ------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Nothing but the queue: no logging, no locks (see the module docstring).
        if self._exit_code is not None:
            raise SystemExit(self._exit_code)
        if not self._running:
            # Uninstalled from another thread (handlers and the wakeup fd can only be swapped
            # on the main one, where we are now): behave as the handler we replaced would have.
            self._release_wakeup_fd()
            self._act_as_previous(signum, frame)
            return
        self._pending.put((_HANDLER, signum))

    def _act_as_previous(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous.get(signum, signal.SIG_DFL)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def _claim_wakeup_fd(self) -> None:
        read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        os.set_blocking(read_end, True)
        try:
            previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        except ValueError:
            previous = None
        if previous != -1:
            # Someone else (an asyncio loop) wakes on signals through its own pipe: leave it,
            # the Python-level handler still reports every signal to us.
            if previous is not None:
                signal.set_wakeup_fd(previous)
            os.close(read_end)
            os.close(write_end)
            return
        self._pipe = (read_end, write_end)
        self._start_thread(self._read_pipe_loop, f"{self._name}-wakeup", read_end)

    def _release_wakeup_fd(self) -> None:
        if self._pipe is None:
            return
        read_end, write_end = self._pipe
        self._pipe = None
        current = signal.set_wakeup_fd(-1)
        if current not in (-1, write_end):
            signal.set_wakeup_fd(current)  # not ours any more: put the other owner's back
        with contextlib.suppress(OSError):
            os.write(write_end, _PIPE_STOP_BYTE)  # the reader closes both ends

    def _read_pipe_loop(self, read_end: int) -> None:
        write_end = None if self._pipe is None else self._pipe[1]
        try:
            while True:
                try:
                    data = os.read(read_end, 512)
                except InterruptedError:
                    continue
                except OSError:
                    return
                for signum in data:
                    if signum == 0:
                        return
                    self._pending.put((_PIPE, signum))
        finally:
            os.close(read_end)
            if write_end is not None:
                with contextlib.suppress(OSError):
                    os.close(write_end)

    # -- dispatch -------------------------------------------------------------------------

    def _start_thread(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _dispatch_loop(self) -> None:
        pending = self._pending
        # Deliveries reported so far, per signal and path; the k-th delivery of a signal is
        # handled when the first path reports it, and ignored when the other one does.
        reported: dict[str, dict[int, int]] = {_HANDLER: {}, _PIPE: {}}
        handled: dict[int, int] = {}
        while True:
            source, signum = pending.get()
            if signum == _STOP:
                return
            if source != _DIRECT:
                counts = reported[source]
                counts[signum] = counts.get(signum, 0) + 1
                if counts[signum] <= handled.get(signum, 0):
                    continue  # the other path reported this delivery already
                handled[signum] = counts[signum]
            callback = self._callbacks.get(signum)
            if callback is None:
                continue
            try:
                callback(signum)
            except Exception:
                # One failing callback must not stop later signals from being handled.
                log.exception("handling signal %s failed", signal_name(signum))


def controlling_terminal_alive() -> bool:
    """Whether this process still has a usable controlling terminal (False after a hang-up)."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def signal_name(signum: int) -> str:
    """`SIGHUP` for 1, and so on; the number itself if unknown."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)
