"""RSS tracking: current, peak and average usage, per-project accounted MB, a history ring."""

from __future__ import annotations

import threading
import time
import weakref
from array import array
from collections.abc import Callable
from typing import Any

from engine.memory.probe import MB, MemoryProbe, get_default_probe

HISTORY_SIZE = 600  # 10 minutes at a 1 s interval; 600 float32 = 2.4 KB


class MemoryTracker:
    """Records RSS samples; cheap enough to call on every monitoring tick.

    The history is a fixed ring of float32 MB values (`array('f')`), so its cost does not
    grow with uptime. `peak_mb` is the highest sample seen by this tracker.
    """

    _global: MemoryTracker | None = None
    _global_lock = threading.Lock()

    def __init__(
        self,
        probe: MemoryProbe | None = None,
        clock: Callable[[], float] = time.time,
        history_size: int = HISTORY_SIZE,
    ) -> None:
        self.probe = probe if probe is not None else get_default_probe()
        self.clock = clock
        self._lock = threading.Lock()
        self._ring = array("f", bytes(4 * history_size))
        self._ring_next = 0
        self._ring_filled = 0
        self._count = 0
        self._sum_mb = 0.0
        self._peak_mb = 0.0
        self._current_mb = 0.0
        self._last_sample_time = 0.0
        self._project_mb: dict[str, float] = {}
        self._project_source: Callable[[], Callable[[], dict[str, float]] | None] | None = None

    @classmethod
    def get_global_tracker(cls) -> MemoryTracker:
        """The process-wide tracker (created on first use with the real probe)."""
        with cls._global_lock:
            if cls._global is None:
                cls._global = cls()
            return cls._global

    @classmethod
    def set_global_tracker(cls, tracker: MemoryTracker | None) -> None:
        """Replace the process-wide tracker (tests inject one with a fake probe)."""
        with cls._global_lock:
            cls._global = tracker

    def sample(self) -> float:
        """Read RSS now, record it, and return it in MB."""
        return self.record(self.probe.rss_bytes() / MB)

    def record(self, current_mb: float) -> float:
        """Record an RSS value already measured (in MB)."""
        with self._lock:
            self._current_mb = current_mb
            self._peak_mb = max(self._peak_mb, current_mb)
            self._count += 1
            self._sum_mb += current_mb
            self._last_sample_time = self.clock()
            self._ring[self._ring_next] = current_mb
            self._ring_next = (self._ring_next + 1) % len(self._ring)
            self._ring_filled = min(self._ring_filled + 1, len(self._ring))
        return current_mb

    def set_project_source(self, source: Callable[[], dict[str, float]]) -> None:
        """Where `get_stats()` reads per-project MB (a bound method is held weakly)."""
        if hasattr(source, "__self__"):
            self._project_source = weakref.WeakMethod(source)  # type: ignore[arg-type]
        else:
            self._project_source = lambda: source

    def update_projects(self, project_mb: dict[str, float]) -> None:
        """Set the per-project accounted MB (loaded content + query cache + indexes)."""
        with self._lock:
            self._project_mb = dict(project_mb)

    def get_current_usage_mb(self) -> float:
        """Current RSS in MB (measured now and recorded)."""
        return self.sample()

    def check_memory_budget(self, max_mb: float) -> bool:
        """True if current RSS is within `max_mb`."""
        return self.sample() <= max_mb

    @property
    def peak_mb(self) -> float:
        """Highest RSS sample recorded, in MB."""
        with self._lock:
            return self._peak_mb

    def history_mb(self) -> tuple[float, ...]:
        """The recorded RSS samples, oldest first (at most the ring's size)."""
        with self._lock:
            size = len(self._ring)
            start = (self._ring_next - self._ring_filled) % size
            return tuple(round(self._ring[(start + i) % size], 1) for i in range(self._ring_filled))

    def get_stats(self) -> dict[str, Any]:
        """current_mb, peak_mb, average_mb, sample_count, last_sample_time, projects_mb."""
        if self._count == 0:
            self.sample()
        reference = self._project_source
        source = reference() if reference is not None else None
        if source is not None:
            self.update_projects(source())
        with self._lock:
            return {
                "current_mb": self._current_mb,
                "peak_mb": self._peak_mb,
                "average_mb": self._sum_mb / self._count if self._count else 0.0,
                "sample_count": self._count,
                "samples": self._count,
                "last_sample_time": self._last_sample_time,
                "projects_mb": dict(self._project_mb),
                "history_size": len(self._ring),
            }

    def reset(self) -> None:
        """Forget all samples (peak, average and history start again)."""
        with self._lock:
            self._ring = array("f", bytes(4 * len(self._ring)))
            self._ring_next = self._ring_filled = self._count = 0
            self._sum_mb = self._peak_mb = self._current_mb = 0.0


def get_current_usage_mb() -> float:
    """Current RSS of this process in MB, via the global tracker."""
    return MemoryTracker.get_global_tracker().get_current_usage_mb()
