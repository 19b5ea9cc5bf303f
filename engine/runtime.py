"""One running LeIndex process: engine, memory manager, reload triggers, pidfile, shutdown.

`Runtime.start()` returns at once; indexing, restore and the config watcher run on their own
threads. Reload triggers (the config watcher, SIGHUP, `leindex reload`, `Runtime.reload()`)
all go through `engine.config.reload_config()`; the runtime's built-in observer then applies
the new caps and limits to the live engine and memory manager. `shutdown()` is idempotent and
is what SIGTERM/SIGINT, the TUI's quit and the MCP server's end of session call.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from engine import procfs
from engine.atomic import ensure_private_dir
from engine.lifecycle.coalesce import Coalescer
from engine.lifecycle.logging_setup import attach_file_logging, detach_file_logging
from engine.memory import persistence
from engine.pidfile import PID_FILE_NAME, PidFile, PidFileError, PidFileStatus
from engine.signals import SignalRelay, controlling_terminal_alive, signal_name

log = logging.getLogger(__name__)

ReloadListener = Callable[[Any], None]
TerminateCallback = Callable[[int], None]

_TERMINATE_SIGNALS = (signal.SIGTERM, signal.SIGINT)
START_SETTLE_TIMEOUT_SECONDS = 30.0
# Allocations from this size up get a mapping of their own, given back when freed
# (`procfs.fix_mmap_threshold`): numpy's working arrays, never Python's small objects.
MMAP_THRESHOLD_BYTES = 256 << 10
# SIGHUPs closer together than this share one reload (the first one reloads at once).
SIGNAL_RELOAD_WINDOW_SECONDS = 0.2


def _leindex_home() -> Path:
    from engine.config import leindex_home

    return leindex_home()


class Runtime:
    """Wires one engine, one memory manager, reload triggers, pidfile, restore and shutdown."""

    def __init__(
        self,
        home: Path | str | None = None,
        paths: Iterable[Path | str] = (),
        probe: Any = None,
        clock: Callable[[], float] | None = None,
        watch_config: bool = True,
        headless: bool = False,
    ) -> None:
        self.home = Path(home).expanduser().absolute() if home else _leindex_home()
        self.paths = tuple(Path(p).expanduser().absolute() for p in paths)
        self.probe = probe
        self.clock = clock
        self.watch_config = watch_config
        self.headless = headless
        self.engine: Any = None
        self.memory_manager: Any = None
        self.pidfile = PidFile(self.home / PID_FILE_NAME)
        self.pidfile_status: PidFileStatus | None = None
        self.restorer: persistence.CacheRestorer | None = None
        self.shutdown_report: persistence.ShutdownReport | None = None
        self._warnings: list[str] = []
        self._reload_listeners: list[ReloadListener] = []
        self._listeners_lock = threading.Lock()
        self._lifecycle_lock = threading.Lock()
        self._started = False
        # Set while no start() is half done: a shutdown (say a SIGHUP from a closing terminal)
        # that lands during start waits for it, so what start brings up is also saved and
        # stopped, not left running behind a finished shutdown.
        self._start_settled = threading.Event()
        self._start_settled.set()
        self._shutdown_started = False
        self._shutdown_done = threading.Event()
        self._stop_background = threading.Event()
        self._watcher: Any = None
        self._observer: Any = None
        self._relay: SignalRelay | None = None
        self._on_terminate: TerminateCallback | None = None
        self._owns_terminal = False
        self._log_handler: logging.Handler | None = None
        self._last_reload: Any = None
        self._previous_reload_manager: Any = None
        self._installed_reload_manager = False
        self._control: Any = None
        # Where indexes go for this run when the home is read-only (None: in the home).
        self._scratch_home: Path | None = None
        self._signal_reloads = Coalescer(
            lambda: self.reload(trigger="SIGHUP"), SIGNAL_RELOAD_WINDOW_SECONDS, "leindex-sighup"
        )

    # ----------------------------------------------------------------- start

    @property
    def warnings(self) -> tuple[str, ...]:
        """Warnings from start-up (a live pidfile owner, a cache state set aside) for the UI."""
        return tuple(self._warnings)

    @property
    def running(self) -> bool:
        """True after `start()` and before `shutdown()`."""
        return self._started and not self._shutdown_started

    @property
    def last_reload(self) -> Any:
        """The `ReloadResult` of the latest reload this runtime triggered or observed."""
        return self._last_reload

    def start(self) -> Runtime:
        """Bring everything up and return at once; long work runs on daemon threads."""
        with self._lifecycle_lock:
            if self._started or self._shutdown_started:
                # Started already, or shut down before it could start (a quit during start-up):
                # bringing things up now would leave them running with nobody to stop them.
                return self
            self._started = True
            self._start_settled.clear()
        try:
            ensure_private_dir(self.home)
            self._log_handler = attach_file_logging(self.home)
            self._take_pidfile()
        except BaseException:
            self._start_settled.set()
            raise
        try:
            self._bring_up()
        except BaseException:
            self._start_settled.set()
            log.exception("leindex runtime failed to start; undoing what was started")
            self.shutdown()
            raise
        self._start_settled.set()
        log.info(
            "leindex runtime started (pid %d, home %s%s)",
            os.getpid(),
            self.home,
            ", headless" if self.headless else "",
        )
        return self

    def _bring_up(self) -> None:
        from engine.index import Engine, set_engine
        from engine.memory import MemoryManager, set_memory_manager

        procfs.fix_mmap_threshold(MMAP_THRESHOLD_BYTES)

        reload_manager = self._reload_manager_for_home()
        # Read the files now, not whatever an earlier user of this process loaded; a bad file
        # is reported and the start goes on with the last good (or built-in) config.
        initial = reload_manager.reload_config()
        if not initial.success:
            self._warn(f"config not applied: {initial.error}")
        self.engine = Engine(home=self.home)
        self._scratch_home = self._scratch_home_if_read_only()
        if self._scratch_home is not None:
            indexes = self._scratch_home / "indexes"
            self.engine.indexes_dir = self.engine.registry.indexes_dir = indexes
        set_engine(self.engine)
        self.memory_manager = MemoryManager(engine=self.engine, probe=self.probe, clock=self.clock)
        # The spill secret lives in this home.
        self.memory_manager.home = self._scratch_home or self.home
        set_memory_manager(self.memory_manager)
        self._observer = _RuntimeConfigObserver(self)
        reload_manager.register_observer(self._observer)
        self._start_monitoring()
        for path in self.paths:
            try:
                self.engine.index_project_async(path)
            except (OSError, ValueError) as error:
                # One bad path must not take the others (or the whole process) down.
                self._warn(f"cannot open project {path}: {error}")
        self._start_restore()
        if self.watch_config:
            self._start_watcher()
        self._start_control_channel()

    def _scratch_home_if_read_only(self) -> Path | None:
        """A private temp directory for this run's indexes when the home cannot be written
        (searches still work; nothing is saved), else None."""
        if os.access(self.home, os.W_OK | os.X_OK):
            return None
        scratch = Path(tempfile.mkdtemp(prefix="leindex-scratch-"))
        self._warn(
            f"{self.home} is read-only: cache state, spills and indexes cannot be saved; "
            f"indexes are built in {scratch} for this run only"
        )
        return scratch

    def _reload_manager_for_home(self) -> Any:
        """The process reload manager, replaced by one reading this runtime's home if needed."""
        from engine.config import ReloadManager, get_reload_manager, set_reload_manager

        current = get_reload_manager()
        if Path(current.home).absolute() == self.home:
            return current
        self._previous_reload_manager = current
        self._installed_reload_manager = True
        replacement = ReloadManager(home=self.home)
        set_reload_manager(replacement)
        return replacement

    def _take_pidfile(self) -> None:
        try:
            self.pidfile_status = self.pidfile.acquire()
        except (OSError, PidFileError) as error:
            self._warn(f"could not write {self.pidfile.path}: {error}; SIGHUP via pidfile is off")
            return
        if self.pidfile_status.warning:
            self._warn(self.pidfile_status.warning)
        elif self.pidfile_status.owned:
            # Only the owner may clean up: a second instance could be mid-write.
            persistence.remove_stale_temp_files(self.home)

    def _start_monitoring(self) -> None:
        from engine.config import get_config

        if get_config().memory.monitoring.enabled:
            # No interval given: the monitor reads the live config's, so a reload retunes it.
            self.memory_manager.start_monitoring()

    def _start_restore(self) -> None:
        outcome = persistence.load_cache_state(self.home / persistence.CACHE_STATE_FILE_NAME)
        if outcome.warning:
            self._warn(outcome.warning)
        if outcome.state is None:
            return
        self.restorer = persistence.restore_cache_state(
            self.engine, self.home, background=True, stop=self._stop_background, state=outcome.state
        )

    def _start_watcher(self) -> None:
        from engine.config.watcher import ConfigWatcher

        self._watcher = ConfigWatcher(self.home, self._on_config_files_changed)
        self._watcher.start()

    def _start_control_channel(self) -> None:
        from engine.control import ControlError, ControlServer

        server = ControlServer(
            self.home,
            reload=lambda: self.reload(trigger="leindex reload"),
            face="headless" if self.headless else "dashboard",
        )
        try:
            self._control = server.start()
        except ControlError as error:
            server.stop()
            # SIGHUP via the pidfile still works; only `leindex status|diagnostics` lose us.
            self._warn(f"control channel off: {error}")

    def _stop_control_channel(self) -> None:
        control, self._control = self._control, None
        if control is not None:
            control.stop()

    def wait_watcher_ready(self, timeout: float | None = None) -> bool:
        """Block until the config watcher sees writes (tests, benchmarks); False if none runs."""
        return self._watcher is not None and self._watcher.wait_ready(timeout)

    def wait_restored(self, timeout: float | None = None) -> bool:
        """Block until the background restore is over (True at once if there was none)."""
        return self.restorer is None or self.restorer.done.wait(timeout)

    def _warn(self, message: str) -> None:
        log.warning(message)
        self._warnings.append(message)

    # ---------------------------------------------------------------- reload

    def reload(self, trigger: str = "api") -> Any:
        """Re-read config files through the one reload path; returns its `ReloadResult`.

        An invalid file changes nothing: the result carries the error (file, line, key),
        it is logged, and every reload listener gets it.
        """
        from engine.config import reload_config

        started = time.perf_counter()
        result = reload_config()
        result.trigger = trigger
        elapsed_ms = (time.perf_counter() - started) * 1000
        applied = self._observer.applied_for(result) if self._observer is not None else None
        if applied:
            result.changes.append(applied)
        if getattr(result, "success", False):
            log.info("config reloaded (%s) in %.1f ms: %s", trigger, elapsed_ms, result.changes)
        else:
            log.warning("config reload (%s) rejected: %s", trigger, result.error)
        self._publish_reload(result)
        return result

    def register_reload_listener(self, listener: ReloadListener) -> Callable[[], None]:
        """Call `listener(ReloadResult)` after every reload (from any thread); returns an undo."""
        with self._listeners_lock:
            self._reload_listeners.append(listener)

        def unregister() -> None:
            with self._listeners_lock:
                if listener in self._reload_listeners:
                    self._reload_listeners.remove(listener)

        return unregister

    def _publish_reload(self, result: Any) -> None:
        self._last_reload = result
        with self._listeners_lock:
            listeners = list(self._reload_listeners)
        for listener in listeners:  # outside the lock: a listener may register another
            try:
                listener(result)
            except Exception:
                log.exception("reload listener %r failed", listener)

    def _on_config_files_changed(self, paths: tuple[Path, ...]) -> None:
        names = ", ".join(str(p.relative_to(self.home)) for p in paths)
        self.reload(trigger=f"file change: {names}")

    # --------------------------------------------------------------- signals

    def install_signal_handlers(
        self, on_terminate: TerminateCallback | None = None, *, owns_terminal: bool = False
    ) -> None:
        """SIGHUP reloads; SIGTERM/SIGINT shut down gracefully (call from the main thread).

        After a signal-initiated shutdown, `on_terminate(signum)` runs (the TUI passes one
        that exits the app). Without it the main thread gets `SystemExit(128 + signum)`.
        With `owns_terminal` (the TUI), a SIGHUP that comes because the terminal hung up
        shuts down like SIGTERM instead of reloading: nobody is left to see the dashboard.
        """
        self._on_terminate = on_terminate
        self._owns_terminal = owns_terminal
        if self._relay is None:
            callbacks = {signal.SIGHUP: self._on_reload_signal}
            callbacks.update(dict.fromkeys(_TERMINATE_SIGNALS, self._on_terminate_signal))
            self._relay = SignalRelay(callbacks)
        self._relay.install()

    def _on_reload_signal(self, signum: int) -> None:
        if self._owns_terminal and not controlling_terminal_alive():
            log.info("%s after the terminal hung up: shutting down", signal_name(signum))
            self._on_terminate_signal(signum)
            return
        self._signal_reloads.request()

    def _on_terminate_signal(self, signum: int) -> None:
        log.info("received %s: shutting down gracefully", signal_name(signum))
        if not self._begin_shutdown():
            # Someone else is already shutting down (a quit, the end of an MCP session):
            # let them finish; a second signal must not cut the state save short.
            log.info("%s ignored: shutdown already in progress", signal_name(signum))
            return
        self._finish_shutdown()
        if self._on_terminate is not None:
            self._on_terminate(signum)
        elif self._relay is not None:
            self._relay.exit_main_thread(signum, 128 + signum)

    # -------------------------------------------------------------- shutdown

    def shutdown(self) -> persistence.ShutdownReport | None:
        """Stop watchers and monitoring, persist cache state, close indexes, drop the pidfile.

        Idempotent and safe from any thread; a concurrent second call waits for the first.
        """
        if self._begin_shutdown():
            self._finish_shutdown()
        else:
            self._shutdown_done.wait()
        return self.shutdown_report

    def _begin_shutdown(self) -> bool:
        with self._lifecycle_lock:
            if self._shutdown_started:
                return False
            self._shutdown_started = True
            return True

    def _finish_shutdown(self) -> None:
        if not self._start_settled.wait(timeout=START_SETTLE_TIMEOUT_SECONDS):
            log.warning(
                "shutting down while start() has not finished after %ss",
                START_SETTLE_TIMEOUT_SECONDS,
            )
        try:
            # First, so a client asking now hears "not running" rather than a half-stopped engine.
            self._stop_control_channel()
            self._stop_background.set()
            if self._watcher is not None:
                self._watcher.stop()
            if self._observer is not None:
                self._unregister_observer()
            if self.engine is not None:
                self.shutdown_report = persistence.graceful_shutdown(
                    self.engine,
                    self.home,
                    stop_monitoring=self._stop_monitoring,
                    clock=self.clock or time.time,
                    cancel_restore=self._stop_background,
                    save_state=self._owns_home(),
                )
            self.pidfile.release()
            if self._scratch_home is not None:
                shutil.rmtree(self._scratch_home, ignore_errors=True)
            log.info("leindex runtime stopped (pid %d)", os.getpid())
        finally:
            if self._relay is not None:
                self._relay.uninstall()
            detach_file_logging(self._log_handler)
            self._log_handler = None
            self._shutdown_done.set()

    def _owns_home(self) -> bool:
        """False for a second instance: the pidfile's owner writes the shared state file."""
        if self._scratch_home is not None:
            return False  # a read-only home: said at start that nothing is saved
        status = self.pidfile_status
        return status is None or status.owned

    def _stop_monitoring(self) -> None:
        if self.memory_manager is not None:
            self.memory_manager.stop_monitoring()

    def _unregister_observer(self) -> None:
        from engine.config import get_reload_manager, set_reload_manager

        get_reload_manager().unregister_observer(self._observer)
        if self._installed_reload_manager:
            set_reload_manager(self._previous_reload_manager)
            self._installed_reload_manager = False


class _RuntimeConfigObserver:
    """The built-in observer: trims the engine's caches to the new caps, then lets the memory
    manager act on the new limits and monitoring interval at once."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._lock = threading.Lock()
        self._applied: dict[float, str] = {}  # reload timestamp -> what applying it did

    def on_config_reloaded(self, event: Any) -> None:
        runtime = self._runtime
        summary = ""
        if runtime.engine is not None:
            summary = _describe_dropped(runtime.engine.apply_config(event.new_config))
            if summary:
                log.info("applied reloaded config: %s", summary)
        manager = runtime.memory_manager
        if manager is not None and runtime.running:
            enabled = event.new_config.memory.monitoring.enabled
            if enabled and not manager.monitoring:
                manager.start_monitoring()
            elif not enabled and manager.monitoring:
                manager.stop_monitoring()
            manager.on_config_reloaded(event)  # acts on the new limits at once
        with self._lock:
            self._applied[event.timestamp] = summary
            while len(self._applied) > 16:  # only the reloads being returned right now matter
                self._applied.pop(next(iter(self._applied)))

    def applied_for(self, result: Any) -> str | None:
        """What applying the reload that produced `result` did to the caches, if anything."""
        if not getattr(result, "success", False):
            return None
        with self._lock:
            return self._applied.pop(result.reloaded_at, None) or None


def _describe_dropped(dropped: Any) -> str:
    """`engine.apply_config`'s return value as one line ("" when nothing was dropped)."""
    if isinstance(dropped, tuple) and len(dropped) == 2:
        files, queries = dropped
    else:
        files = getattr(dropped, "loaded_files", getattr(dropped, "files", 0))
        queries = getattr(dropped, "cached_queries", getattr(dropped, "queries", 0))
    if not files and not queries:
        return ""
    return f"unloaded {files} loaded files and {queries} cached queries over the new caps"
