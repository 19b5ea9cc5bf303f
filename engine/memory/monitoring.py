"""Continuous monitoring: one daemon thread reading RSS (statm) at an interval.

A tick costs one statm read, a few comparisons and, only when a limit is passed, the
enforcement and the callbacks; it never walks /proc/self/smaps.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.memory.floor import floor_report, freeable_bytes
from engine.memory.limits import monitoring_settings
from engine.memory.probe import MB
from engine.memory.thresholds import LevelTracker, ThresholdLevel, level_for

if TYPE_CHECKING:
    from engine.memory.manager import MemoryManager

log = logging.getLogger(__name__)

MIN_INTERVAL_SECONDS = 0.01
# After an enforcement pass that released nothing, wait this long before trying again
# at the same level (a full GC each tick would cost far more than monitoring itself).
IDLE_BACKOFF_SECONDS = 10.0
# With the floor reported, a pass runs again only once this much more could be freed.
FREEABLE_SLACK_BYTES = 1024 * 1024


def call_flexibly(callback: Callable[..., Any], *args: Any) -> Any:
    """Call with `args` if the callback accepts them, else with none (the guide's callbacks)."""
    try:
        signature = inspect.signature(callback)
    except (TypeError, ValueError):  # builtins without a signature: pass the arguments
        return callback(*args)
    try:
        signature.bind(*args)
    except TypeError:
        return callback()
    return callback(*args)


class CallbackList:
    """Registered callbacks; each call is guarded so one raising callback harms nothing."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []
        self._lock = threading.Lock()

    def add(self, callback: Callable[..., Any]) -> None:
        if not callable(callback):
            raise TypeError(f"{self.name} callback must be callable (got {callback!r})")
        with self._lock:
            self._callbacks.append(callback)

    def remove(self, callback: Callable[..., Any]) -> bool:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)
                return True
            return False

    def __len__(self) -> int:
        return len(self._callbacks)

    def fire(self, *args: Any) -> list[BaseException]:
        """Call every callback (outside any lock); return the errors raised."""
        with self._lock:
            callbacks = list(self._callbacks)
        errors = []
        for callback in callbacks:
            try:
                call_flexibly(callback, *args)
            except Exception as error:
                log.exception("%s callback %r raised", self.name, callback)
                errors.append(error)
        return errors


class Monitor:
    """The monitoring thread of one MemoryManager."""

    def __init__(self, manager: MemoryManager) -> None:
        self.manager = manager
        self.level_tracker = LevelTracker()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._interval: float | None = None
        self.auto_enforce = True
        self.ticks = 0
        self.last_error: str | None = None
        self._idle_level: ThresholdLevel | None = None
        self._idle_until = 0.0
        self._idle_freeable = 0

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def interval_seconds(self) -> float:
        """The interval in force: the one given to start(), else the live config's."""
        if self._interval is not None:
            return self._interval
        return max(MIN_INTERVAL_SECONDS, monitoring_settings().interval_seconds)

    def start(self, interval: float | None, auto_enforce: bool = True) -> None:
        if interval is not None and not interval > 0:
            raise ValueError(f"monitoring interval must be > 0 seconds (got {interval})")
        with self._lock:
            self._interval = None if interval is None else max(MIN_INTERVAL_SECONDS, interval)
            self.auto_enforce = auto_enforce
            if self.running and not self._stop.is_set():
                self._wake.set()  # pick up the new interval now
                return
            old = self._thread
            if old is not None and old is not threading.current_thread():
                # A stop timed out during a long enforcement: wait for that thread to end
                # so there is never two monitors at once.
                old.join()
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="leindex-memory-monitor", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            thread = self._thread
            self._stop.set()
            self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._lock:
            if self._thread is thread and (thread is None or not thread.is_alive()):
                self._thread = None

    def retune(self, old_interval: float | None, new_interval: float) -> None:
        """Follow a config change of the interval, if the one in force came from the config."""
        with self._lock:
            if self._interval is not None and self._interval == old_interval:
                self._interval = max(MIN_INTERVAL_SECONDS, new_interval)
        self._wake.set()

    def poke(self) -> None:
        """Run a tick now (e.g. after a config reload changed the limits)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as error:  # monitoring must survive anything a tick hits
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("memory monitoring tick failed")
            self._wake.wait(min(self.interval_seconds, threading.TIMEOUT_MAX))
            self._wake.clear()

    def tick(self) -> ThresholdLevel:
        """One measurement: record it, update the level, act if a limit is passed."""
        manager = self.manager
        current_mb = manager.tracker.record(manager.probe.rss_bytes() / MB)
        limits = manager.limits
        previous = self.level_tracker.level
        level = self.level_tracker.update(current_mb, limits)
        self.ticks += 1
        if level > previous:
            self._idle_level = None
            manager.notify_level(level, current_mb, limits)
        floor = manager.floor
        if floor is not None and (
            level is ThresholdLevel.NORMAL or floor.budget_mb != limits.budget_mb
        ):
            manager.clear_floor()
        if level is ThresholdLevel.NORMAL or not self.auto_enforce:
            return level
        now = manager.clock()
        if self._idle_level is not None and level <= self._idle_level:
            if now < self._idle_until:
                return level
            if manager.floor is not None and (
                freeable_bytes(manager._projects()) < self._idle_freeable + FREEABLE_SLACK_BYTES
            ):
                return level  # below the floor and still nothing new to free
        outcome = manager.enforce_limits(trigger="auto", current_mb=current_mb)
        if outcome.get("freed_accounted_mb", 0.0) <= 0 and outcome.get("freed_mb", 0.0) <= 0:
            self._idle_level = level
            self._idle_until = now + IDLE_BACKOFF_SECONDS
            self._idle_freeable = freeable_bytes(manager._projects())
            final_mb = outcome.get("final_mb", current_mb)
            final_level = level_for(final_mb, limits)
            if (
                self._idle_freeable < FREEABLE_SLACK_BYTES
                and final_level is not ThresholdLevel.NORMAL
                and manager.floor is None
            ):
                manager.report_floor(floor_report(final_mb, final_level, limits, now))
        else:
            self._idle_level = None
        self.level_tracker.update(outcome.get("final_mb", current_mb), limits)
        return level
