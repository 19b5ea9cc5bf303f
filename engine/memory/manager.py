"""MemoryManager: the guide's memory-management interface over the engine's real caches.

Limits come from explicit `MemoryLimits` when given, else from the live config on every
read, so a config reload takes effect at the next check without any re-wiring. Memory
actions (cleanup, spill, evict, enforce) run one at a time under `_action_lock`; callbacks
and alert listeners are called after it is released, so a callback may call back in.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.memory import engine_view
from engine.memory.actions import ActionType
from engine.memory.breakdown import MappedIndexCache, MemoryBreakdown, build_breakdown
from engine.memory.cache_spill import SpillResult, spill_caches
from engine.memory.cleanup import CleanupResult, drop_old_entries, run_cleanup, run_gc
from engine.memory.ejection import EvictionResult, evict_projects
from engine.memory.enforcement import enforce
from engine.memory.floor import FloorReport
from engine.memory.limits import (
    MemoryLimits,
    ResolvedLimits,
    leindex_home,
    monitoring_settings,
    resolve_limits,
    spill_settings,
)
from engine.memory.monitoring import CallbackList, Monitor
from engine.memory.probe import MB, MemoryProbe, get_default_probe
from engine.memory.seams import ManagedEngine, ManagedProject
from engine.memory.snapshot import MemorySnapshot, MemoryStatus
from engine.memory.spill import SpillError, SpillStore, get_spill_store
from engine.memory.thresholds import ThresholdLevel, level_for, limit_for
from engine.memory.tracker import MemoryTracker
from engine.priority import ProjectPriority

log = logging.getLogger(__name__)


def python_objects() -> int:
    """The interpreter's live small objects: its allocated memory blocks.

    Not `len(gc.get_objects())`: while that list exists, a tuple another thread is building
    from an iterator holds a second reference, and its resize fails (CPython raises
    SystemError: bad argument to internal function); indexing died of it while a client
    polled `get_diagnostics`.
    """
    return sys.getallocatedblocks()


class MemoryManager:
    """Main memory management interface."""

    def __init__(
        self,
        limits: MemoryLimits | None = None,
        *,
        engine: ManagedEngine | None = None,
        probe: MemoryProbe | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """Initialize with optional memory limits (else the live config's)."""
        self._explicit_limits = limits
        self._engine = engine
        self.probe = probe if probe is not None else get_default_probe()
        self.clock = clock if clock is not None else time.time
        if probe is None and clock is None:
            self.tracker = MemoryTracker.get_global_tracker()
        else:
            self.tracker = MemoryTracker(self.probe, self.clock)
        self._action_lock = threading.Lock()
        self._monitor = Monitor(self)
        self._mapped_cache = MappedIndexCache(self.probe)
        self.cleanup_callbacks = CallbackList("cleanup")
        self.spill_callbacks = CallbackList("spill")
        self.limit_exceeded_callbacks = CallbackList("limit exceeded")
        self.alert_listeners = CallbackList("alert")
        # Set (once) when the budget is found below the engine's floor (see floor.py).
        self.floor: FloorReport | None = None
        self.last_spill_error: str | None = None
        self.last_load_error: str | None = None
        self.tracker.set_project_source(self.project_memory_mb)
        from engine.memory.admission import BudgetReserver

        self.reserver = BudgetReserver(self)

    # --- wiring -----------------------------------------------------------------------

    @property
    def engine(self) -> ManagedEngine | None:
        """The engine managed: the one given, else the process's default engine."""
        if self._engine is not None:
            return self._engine
        return engine_view.default_engine()

    @property
    def limits(self) -> ResolvedLimits:
        """The limits in force now (explicit ones win over the live config)."""
        return resolve_limits(self._explicit_limits)

    def set_limits(self, limits: MemoryLimits | None) -> None:
        """Replace the explicit limits (None: follow the config again)."""
        self._explicit_limits = limits
        self._monitor.poke()

    def on_config_reloaded(self, event: Any) -> None:
        """ConfigObserver hook: limits follow the config already; the monitoring interval
        follows it too (unless set to something else by hand); then check at once."""
        new_config = getattr(event, "new_config", None)
        old_config = getattr(event, "old_config", None)
        if new_config is not None:
            new_monitoring = new_config.memory.monitoring
            old_interval = (
                old_config.memory.monitoring.interval_seconds if old_config is not None else None
            )
            if not new_monitoring.enabled:
                self._monitor.stop()
            else:
                self._monitor.retune(old_interval, new_monitoring.interval_seconds)
        self._monitor.poke()

    def project_memory_mb(self) -> dict[str, float]:
        """Accounted MB per project: loaded content + query cache + vectors in memory."""
        return {
            project.name: (
                project.loaded_files.bytes
                + project.query_cache.bytes
                + engine_view.vector_bytes(project)
            )
            / MB
            for project in self._projects()
        }

    def _projects(self) -> list[ManagedProject]:
        return engine_view.projects_of(self.engine)

    def spill_store(self) -> SpillStore:
        """The spill directory store, following the live spill settings."""
        settings = spill_settings()
        return get_spill_store(
            settings.directory,
            settings.max_bytes,
            Path(getattr(self, "home", None) or leindex_home()) / "spill.secret",
            settings.enabled,
        )

    # --- reading ----------------------------------------------------------------------

    def take_snapshot(
        self, loaded_files: int | None = None, cached_queries: int | None = None
    ) -> MemorySnapshot:
        """Take a memory snapshot (file and query counts from the engine unless given)."""
        sample = self.probe.sample()
        self.tracker.record(sample.rss / MB)
        if loaded_files is None or cached_queries is None:
            totals = engine_view.totals(self.engine)
            loaded_files = totals.loaded_files if loaded_files is None else loaded_files
            cached_queries = totals.cached_queries if cached_queries is None else cached_queries
        return MemorySnapshot(
            timestamp=self.clock(),
            process_memory_mb=sample.rss / MB,
            heap_size_mb=sample.heap / MB,
            loaded_files=loaded_files,
            cached_queries=cached_queries,
        )

    def get_status(self) -> MemoryStatus:
        """Get current memory status."""
        sample = self.probe.sample()
        current = self.tracker.record(sample.rss / MB)
        totals = engine_view.totals(self.engine)
        limits = self.limits
        return MemoryStatus(
            current_mb=current,
            peak_mb=self.tracker.peak_mb,
            heap_size_mb=sample.heap / MB,
            loaded_files=totals.loaded_files,
            cached_queries=totals.cached_queries,
            soft_limit_exceeded=current >= limits.soft_mb,
            hard_limit_exceeded=current >= limits.hard_mb,
            emergency_limit_exceeded=current >= limits.emergency_mb,
            gc_objects=python_objects(),
            active_threads=threading.active_count(),
            timestamp=self.clock(),
            level=level_for(current, limits),
            budget_mb=limits.budget_mb,
            soft_limit_mb=limits.soft_mb,
            hard_limit_mb=limits.hard_mb,
            emergency_limit_mb=limits.emergency_mb,
        )

    def get_breakdown(self, fresh: bool = True) -> MemoryBreakdown:
        """Get detailed memory breakdown (walks smaps for tantivy's mapped pages)."""
        projects = self._projects()
        sample = self.probe.sample()
        self.tracker.record(sample.rss / MB)
        totals = engine_view.totals_of(projects)
        tantivy = self._mapped_cache.get(
            [getattr(p, "index_dir", None) for p in projects], fresh=fresh
        )
        return build_breakdown(sample, totals, tantivy, self.clock)

    def check_limits(self, snapshot: MemorySnapshot | None = None) -> dict[str, bool]:
        """Check if memory limits are exceeded."""
        snapshot = snapshot or self.take_snapshot()
        limits = self.limits
        current = snapshot.process_memory_mb
        return {
            "soft_limit_exceeded": current >= limits.soft_mb,
            "hard_limit_exceeded": current >= limits.hard_mb,
            "emergency_limit_exceeded": current >= limits.emergency_mb,
            "within_budget": current <= limits.budget_mb,
            "loaded_files_exceeded": snapshot.loaded_files > limits.max_loaded_files,
            "cached_queries_exceeded": snapshot.cached_queries > limits.max_cached_queries,
        }

    # --- acting -----------------------------------------------------------------------

    def enforce_limits(
        self,
        snapshot: MemorySnapshot | None = None,
        *,
        trigger: str = "api",
        current_mb: float | None = None,
    ) -> dict[str, Any]:
        """Enforce memory limits and trigger appropriate actions (see enforcement.py).

        SOFT: cleanup + GC; HARD: spill; EMERGENCY: evict everything up to HIGH priority.
        Each level runs its own action only (the guide's ladder).
        """
        if current_mb is None:
            current_mb = snapshot.process_memory_mb if snapshot else self.probe.rss_bytes() / MB
        return enforce(self, current_mb, trigger)

    def cleanup(self) -> bool:
        """Trigger cleanup to reduce memory usage."""
        return self.cleanup_detailed().success

    def cleanup_detailed(self, fraction: float = 0.5) -> CleanupResult:
        """Cleanup with its measured result (what `manage_memory(cleanup)` reports)."""
        with self._action_lock:
            result = run_cleanup(self._projects(), self.probe, fraction)
        self.tracker.sample()
        self.cleanup_callbacks.fire(result)
        return result

    def collect_garbage(self):
        """A full GC and a return of free memory to the OS (no cache is touched)."""
        with self._action_lock:
            result = run_gc(self.probe)
        self.tracker.sample()
        return result

    def spill_caches(self, trigger: str = "api", target_mb: float | None = None) -> SpillResult:
        """Spill the query caches and loaded files to disk (reloaded on their next access)."""
        with self._action_lock:
            target = None if target_mb is None else target_mb * MB
            result = self._spill_locked(self._projects(), target, trigger)
        self.tracker.sample()
        self.spill_callbacks.fire(result)
        return result

    def _spill_locked(
        self, projects: list[ManagedProject], target_bytes: float | None, trigger: str
    ):
        store = self.spill_store()
        if not store.enabled:
            # Nowhere to spill to: dropping is the only way to free the caches.
            start = time.perf_counter()
            rss_before = self.probe.rss_bytes()
            _q, _f, released = drop_old_entries(projects, 1.0, target_bytes)
            gc.collect()
            self.probe.return_memory_to_os()
            return SpillResult(
                success=False,
                accounted_freed_mb=round(released / MB, 3),
                freed_mb=round((rss_before - self.probe.rss_bytes()) / MB, 3),
                duration_seconds=time.perf_counter() - start,
                errors=["spill to disk is disabled; cache entries were dropped instead"],
                trigger=trigger,
            )

        def release() -> None:
            gc.collect()
            self.probe.return_memory_to_os()

        return spill_caches(projects, store, self.probe, target_bytes, trigger, release)

    def evict(
        self,
        target_mb: float,
        priority_threshold: ProjectPriority | str = ProjectPriority.LOW,
        excluded_projects: list[str] | None = None,
        trigger: str = "api",
    ) -> EvictionResult:
        """Evict projects' in-memory data, lowest priority and least recent first."""
        with self._action_lock:
            result = evict_projects(
                self._projects(),
                self.probe,
                target_mb,
                priority_threshold,
                excluded_projects,
                trigger,
                self.clock,
            )
        self.tracker.sample()
        return result

    def run_action(self, action_type: ActionType, **params: Any) -> Any:
        """Run one queued action's default behaviour (used by the action queue)."""
        if action_type is ActionType.CLEANUP:
            return self.cleanup_detailed(**params)
        if action_type is ActionType.GC:
            return self.collect_garbage()
        if action_type is ActionType.SPILL_TO_DISK:
            return self.spill_caches(**params)
        if action_type is ActionType.EVICT:
            target = params.pop("target_mb", None)
            if target is None:
                limits = self.limits
                target = max(1.0, self.probe.rss_bytes() / MB - limits.soft_mb)
            return self.evict(target, **params)
        raise ValueError(f"no default behaviour for action type {action_type}")

    # --- arbitrary data spill ---------------------------------------------------------

    def spill_to_disk(self, key: str, data: Any) -> bool:
        """Spill data to disk; False (with `last_spill_error`) if it could not be done."""
        try:
            self.spill_store().spill(key, data)
        except SpillError as error:
            self.last_spill_error = str(error)
            log.warning("spill of %r refused: %s", key, error)
            return False
        self.last_spill_error = None
        return True

    def load_from_disk(self, key: str) -> Any | None:
        """Load spilled data from disk; None (with `last_load_error`) if it cannot be."""
        try:
            value = self.spill_store().load(key)
        except SpillError as error:
            self.last_load_error = str(error)
            return None
        self.last_load_error = None
        return value

    # --- monitoring -------------------------------------------------------------------

    def start_monitoring(
        self,
        interval: float | None = None,
        *,
        interval_seconds: float | None = None,
        auto_enforce: bool = True,
    ) -> None:
        """Start continuous memory monitoring (interval: given, else the config's, live)."""
        chosen = interval if interval is not None else interval_seconds
        self._monitor.start(chosen, auto_enforce)

    def stop_monitoring(self) -> None:
        """Stop continuous memory monitoring."""
        self._monitor.stop()

    @property
    def monitoring(self) -> bool:
        """True while the monitoring thread runs."""
        return self._monitor.running

    @property
    def monitor(self) -> Monitor:
        """The monitoring thread's state (level tracker, tick count, interval)."""
        return self._monitor

    def register_cleanup_callback(self, callback: Callable) -> None:
        """Register a cleanup callback (called after each cleanup, with its result if it
        takes an argument)."""
        self.cleanup_callbacks.add(callback)

    def register_spill_callback(self, callback: Callable) -> None:
        """Register a spill callback (called after each cache spill)."""
        self.spill_callbacks.add(callback)

    def register_limit_exceeded_callback(self, callback: Callable) -> None:
        """Register a limit exceeded callback (called with the level if it takes one)."""
        self.limit_exceeded_callbacks.add(callback)

    def register_alert_listener(self, listener: Callable[[ThresholdLevel, str], Any]) -> None:
        """Subscribe to monitoring alerts: `listener(level, message)`, per `alert_on_*`."""
        self.alert_listeners.add(listener)

    def unregister_alert_listener(self, listener: Callable) -> bool:
        """Remove an alert listener; True if it was registered."""
        return self.alert_listeners.remove(listener)

    def notify_level(self, level: ThresholdLevel, current_mb: float, limits: ResolvedLimits):
        """Tell callbacks and (if enabled for the level) alert listeners that a limit passed."""
        self.limit_exceeded_callbacks.fire(level)
        settings = monitoring_settings()
        wanted = {
            ThresholdLevel.SOFT: settings.alert_on_soft_limit,
            ThresholdLevel.HARD: settings.alert_on_hard_limit,
            ThresholdLevel.EMERGENCY: settings.alert_on_emergency,
        }.get(level, False)
        if wanted:
            message = (
                f"{level.name} limit passed: {current_mb:.1f} MB of {limits.budget_mb:.0f} MB "
                f"({current_mb / limits.budget_mb:.0%}; limit {limit_for(level, limits):.0f} MB)"
            )
            self.alert_listeners.fire(level, message)

    def report_floor(self, report: FloorReport) -> None:
        """Record that the budget is below the engine's floor and say so, once."""
        self.floor = report
        log.warning("%s", report.message)
        self.alert_listeners.fire(ThresholdLevel[report.level], report.message)

    def clear_floor(self) -> None:
        """Forget the floor report (usage fell under the limits, or the budget changed)."""
        if self.floor is not None:
            log.info("memory is within the limits again; floor report cleared")
        self.floor = None

    # --- dashboard, shutdown, restore -------------------------------------------------

    def get_dashboard_status(self):
        """One cheap snapshot for the TUI and MCP status (no smaps walk more than 1/s)."""
        from engine.memory.dashboard import build_dashboard_status

        return build_dashboard_status(self)

    def graceful_shutdown(self, home=None):
        """Stop monitoring, persist cache state, close the engine (engine.memory.persistence)."""
        try:
            from engine.memory import persistence
        except ImportError:
            self.stop_monitoring()
            return None
        engine = self.engine
        if engine is None:
            self.stop_monitoring()
            return None
        report = persistence.graceful_shutdown(
            engine, home, stop_monitoring=self.stop_monitoring, clock=self.clock
        )
        # Cache spills are copies of what the engine recomputes; nobody reloads them after
        # the process ends, so they go now rather than at the next start.
        try:
            self.spill_store().discard_all_cache_spills()
        except OSError as error:
            log.warning("could not remove cache spill files at shutdown: %s", error)
        return report

    def restore_cache_state(self, home=None, *, background: bool = False):
        """Restore the cache state saved at the last graceful shutdown."""
        try:
            from engine.memory import persistence
        except ImportError:
            return None

        engine = self.engine
        if engine is None:
            return None
        return persistence.restore_cache_state(engine, home, background=background)


_default_manager: MemoryManager | None = None
_default_lock = threading.Lock()


def get_memory_manager() -> MemoryManager:
    """The process's default memory manager (created on first use)."""
    global _default_manager
    with _default_lock:
        if _default_manager is None:
            _default_manager = MemoryManager()
        return _default_manager


def set_memory_manager(manager: MemoryManager | None) -> None:
    """Install the process's default memory manager (None: create one on next use)."""
    from engine.memory.reservations import set_default_reserver

    global _default_manager
    with _default_lock:
        _default_manager = manager
    # The index layer reserves through engine.memory.reservations: hand it this manager's.
    set_default_reserver(None if manager is None else manager.reserver)
