"""`leindex --headless`: the same engine as the TUI, served as MCP over stdio.

stdout belongs to the MCP transport alone: one stray `print` from us or a library would be a
line of garbage in the JSON-RPC stream. So `sys.stdout` points at stderr for the whole run,
except for the instant the SDK's `stdio_server()` claims file descriptor 1 through it; while
serving, the SDK points fd 1 itself at stderr (so C-level writes miss the wire too), and once
the session is over we point fd 1 at stderr for good.

Shutdown is graceful on every path: stdin closed (the client went away), SIGTERM or SIGINT
all end the session and then run `Runtime.shutdown()`, which persists the cache state.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import anyio

from leindex_tui.mcp_tools import build_server

log = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _check_paths(paths: Sequence[str]) -> list[str] | None:
    """The paths as given if each is an existing directory; else print why and return None."""
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            sys.stderr.write(f"leindex: error: {raw}: no such directory\n")
            return None
        if not path.is_dir():
            sys.stderr.write(f"leindex: error: {raw}: not a directory\n")
            return None
    return list(paths)


def _log_to_stderr() -> None:
    """Warnings and errors to stderr unless the runtime already set up logging.

    Done before the SDK's server is built, whose own `basicConfig` would otherwise install a
    rich console handler; `basicConfig` does nothing once the root logger has a handler.
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.WARNING)
        root.addHandler(handler)


class _HeadlessSession:
    """One headless run: serves MCP, then shuts the runtime down exactly once.

    A stop signal cancels the session, but the SDK reads stdin on a worker thread that a
    cancel cannot interrupt: if the client keeps stdin open, the event loop would wait for
    the next line forever. So a signal also arms a watchdog: if the loop has not wound down
    within `STUCK_LOOP_GRACE_SECONDS`, the watchdog runs the same graceful shutdown itself
    and ends the process.
    """

    STUCK_LOOP_GRACE_SECONDS = 1.0

    def __init__(self, runtime: Any, wire_stdout: TextIO) -> None:
        self.runtime = runtime
        self.wire_stdout = wire_stdout
        self._loop_done = threading.Event()
        self._shutdown_lock = threading.Lock()
        self._shut_down = False
        self._previous_handlers = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}

    def run(self) -> int:
        try:
            anyio.run(self._serve)
        except KeyboardInterrupt:
            pass
        finally:
            self._loop_done.set()
            self.shutdown()
        return 0

    def shutdown(self) -> None:
        """Restore signal handling, retire the wire and persist state; only the first call acts."""
        with self._shutdown_lock:
            if self._shut_down:
                return
            self._shut_down = True
            self._restore_signal_handlers()
            _retire_wire(self.wire_stdout)
            self.runtime.shutdown()

    def _restore_signal_handlers(self) -> None:
        """Give SIGTERM/SIGINT back to the runtime once the event loop stops listening.

        The loop's signal receiver leaves the default handlers behind (a second SIGTERM would
        kill the process half-way through persisting state); the runtime's handler instead
        ignores a signal while a shutdown is in progress. Only the main thread may do this.
        """
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, handler in self._previous_handlers.items():
            if handler is not None:
                signal.signal(signum, handler)

    def _finish_if_loop_is_stuck(self) -> None:
        if self._loop_done.wait(self.STUCK_LOOP_GRACE_SECONDS):
            return
        log.info("stdin still open after a stop signal: shutting down without the event loop")
        self.shutdown()
        logging.shutdown()
        os._exit(0)

    async def _stop_on_signal(self, scope: anyio.CancelScope) -> None:
        """End the session on SIGTERM or SIGINT; the shutdown itself runs after the loop."""
        try:
            with anyio.open_signal_receiver(*_STOP_SIGNALS) as received:
                async for signum in received:
                    log.info("received %s: shutting down", signal.Signals(signum).name)
                    threading.Thread(
                        target=self._finish_if_loop_is_stuck, name="leindex-stop", daemon=True
                    ).start()
                    scope.cancel()
                    return
        finally:
            self._restore_signal_handlers()

    async def _serve(self) -> None:
        """Serve MCP on stdio until stdin closes or a stop signal arrives."""

        @asynccontextmanager
        async def lifespan(_server: Any) -> AsyncIterator[None]:
            # fd 1 is claimed by now: from here on stdout writes land on stderr.
            sys.stdout = sys.stderr
            self.runtime.start()
            yield

        server = build_server(lifespan=lifespan)
        async with anyio.create_task_group() as group:
            group.start_soon(self._stop_on_signal, group.cancel_scope)
            # The transport claims fd 1 through sys.stdout, so it must be the real one here.
            sys.stdout = self.wire_stdout
            try:
                await server.run_stdio_async()
            finally:
                sys.stdout = sys.stderr
                group.cancel_scope.cancel()


def run_headless(paths: Sequence[str]) -> int:
    """Run the MCP server on stdio over these projects; returns the process exit status."""
    wire_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        checked = _check_paths(paths)
        if checked is None:
            return 2
        _log_to_stderr()
        from engine.runtime import Runtime

        runtime = Runtime(paths=checked, headless=True)
        runtime.install_signal_handlers()
        return _HeadlessSession(runtime, wire_stdout).run()
    finally:
        sys.stdout = sys.stderr


def _retire_wire(wire_stdout: TextIO) -> None:
    """After the session nothing may reach the client's pipe: point fd 1 at stderr."""
    try:
        os.dup2(sys.stderr.fileno(), 1)
    except (OSError, ValueError, AttributeError):
        # stderr is not a real descriptor (embedded use): nothing else writes to fd 1 then.
        return
    # Anything a library left in the stdout buffer now drains to stderr, not to the client.
    with contextlib.suppress(OSError, ValueError):
        wire_stdout.flush()
