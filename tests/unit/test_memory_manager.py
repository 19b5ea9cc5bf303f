"""MemoryManager over a fake engine and probe: status, enforcement, callbacks, monitoring."""

from __future__ import annotations

import threading

import pytest

from engine.memory import (
    EvictionManager,
    MemoryLimits,
    MemoryManager,
    ProjectPriority,
    ThresholdLevel,
)

MB = 1024 * 1024
P = ProjectPriority


@pytest.fixture(autouse=True)
def clean_history():
    EvictionManager().clear_history()
    yield
    EvictionManager().clear_history()


@pytest.fixture
def limits():
    # budget 100 MB: soft 80, hard 93, emergency 98
    return MemoryLimits(
        soft_limit_mb=80, hard_limit_mb=93, emergency_limit_mb=98, total_budget_mb=100
    )


@pytest.fixture
def manager(fake_engine, fake_probe, limits):
    fake_probe.rss_mb = 50
    fake_probe.follow = fake_engine.cache_bytes
    manager = MemoryManager(limits, engine=fake_engine, probe=fake_probe)
    yield manager
    manager.stop_monitoring()


def _fill(fake_engine, name, priority, mb, last_accessed=0.0):
    project = fake_engine.add(name, priority, last_accessed)
    return project.fill(files=int(mb * 10), size=MB // 10)


def test_status_reports_counts_and_limit_flags(manager, fake_engine):
    _fill(fake_engine, "p", P.MEDIUM, 35)  # 50 + 35 = 85 MB: past soft, not hard
    fake_engine.projects["p"].fill(queries=3, size=100)
    status = manager.get_status()
    assert status.current_mb == pytest.approx(85, abs=0.5)
    assert status.loaded_files == 350 and status.cached_queries == 3
    assert status.soft_limit_exceeded and not status.hard_limit_exceeded
    assert status.level is ThresholdLevel.SOFT
    assert status.gc_objects > 0 and status.active_threads >= 1
    assert status.peak_mb >= status.current_mb


def test_breakdown_parts_are_accounted_and_sum_to_total(manager, fake_engine, fake_probe):
    project = _fill(fake_engine, "p", P.MEDIUM, 10)
    project.vector_bytes = 2 * MB
    fake_probe.mapped = 3 * MB
    b = manager.get_breakdown()
    assert b.total_mb == b.process_rss_mb
    assert b.loaded_content_mb == pytest.approx(project.loaded_files.bytes / MB)
    assert b.indexes_mb == pytest.approx(2.0)  # the vectors; tantivy's pages are file-backed
    assert b.tantivy_mapped_mb == pytest.approx(3.0)
    # As in the guide: the heap is loaded content + query cache + indexes + other.
    assert b.loaded_content_mb + b.query_cache_mb + b.indexes_mb + b.other_mb == pytest.approx(
        b.heap_mb
    )
    assert b.heap_mb == pytest.approx(b.total_mb * 0.6, rel=0.01)


def test_take_snapshot_and_check_limits(manager, fake_engine):
    _fill(fake_engine, "p", P.MEDIUM, 45)  # 95 MB: past hard
    snapshot = manager.take_snapshot()
    assert snapshot.process_memory_mb == pytest.approx(95, abs=0.5)
    assert snapshot.loaded_files == 450
    checks = manager.check_limits(snapshot)
    assert checks["soft_limit_exceeded"] and checks["hard_limit_exceeded"]
    assert not checks["emergency_limit_exceeded"] and checks["within_budget"]
    assert manager.take_snapshot(loaded_files=7, cached_queries=3).loaded_files == 7


def test_soft_level_cleans_up_lowest_priority_first(manager, fake_engine):
    low = _fill(fake_engine, "low", P.LOW, 20)
    high = _fill(fake_engine, "high", P.HIGH, 15)  # 85 MB
    outcome = manager.enforce_limits()
    assert outcome["level"] == "SOFT"
    assert outcome["actions"][0]["action"] == "cleanup"
    assert outcome["final_mb"] < 80
    assert len(low.loaded_files) == 100  # oldest half dropped
    assert len(high.loaded_files) == 150  # target met before reaching it


def test_hard_level_spills_and_entries_reload_transparently(manager, fake_engine):
    project = _fill(fake_engine, "p", P.MEDIUM, 45)  # 95 MB
    keys = project.loaded_files.keys()
    value = project.loaded_files.peek(keys[0])
    outcome = manager.enforce_limits()
    assert outcome["level"] == "HARD"
    assert outcome["actions"][0]["action"] == "spill"
    assert outcome["final_mb"] < 93
    assert len(project.loaded_files) < 450
    assert project.loaded_files.get(keys[0]) == value  # read back from the spill file
    assert manager.spill_store().usage_bytes() > 0


def test_emergency_evicts_up_to_high_never_critical(manager, fake_engine):
    low = _fill(fake_engine, "low", P.LOW, 10)
    high = _fill(fake_engine, "high", P.HIGH, 10)
    critical = _fill(fake_engine, "critical", P.CRITICAL, 30)  # 100 MB
    outcome = manager.enforce_limits(trigger="auto")
    assert outcome["level"] == "EMERGENCY"
    assert [a["action"] for a in outcome["actions"]] == ["evict"]
    assert len(low.loaded_files) == 0 and len(high.loaded_files) == 0
    assert len(critical.loaded_files) == 300
    assert EvictionManager().get_history()[-1]["trigger"] == "auto"


def test_soft_never_spills_or_evicts_even_when_cleanup_is_not_enough(manager, fake_engine):
    # The guide's ladder: SOFT is cleanup + GC; spill waits for HARD, eviction for EMERGENCY.
    project = _fill(fake_engine, "p", P.MEDIUM, 30)  # 80 MB, cleanup frees 15
    manager.probe.rss_mb = 70  # 100 MB in all: cleanup alone cannot get under 78
    outcome = manager.enforce_limits(current_mb=85)
    assert [a["action"] for a in outcome["actions"]] == ["cleanup"]
    assert len(project.loaded_files) > 0
    assert not EvictionManager().get_history()


def test_hard_spills_and_never_evicts(manager, fake_engine):
    _fill(fake_engine, "p", P.LOW, 10)
    outcome = manager.enforce_limits(current_mb=95)
    assert outcome["level"] == "HARD"
    assert [a["action"] for a in outcome["actions"]] == ["spill"]
    assert not EvictionManager().get_history()


def test_normal_level_does_nothing(manager, fake_engine):
    project = _fill(fake_engine, "p", P.MEDIUM, 5)
    assert manager.enforce_limits()["actions"] == []
    assert len(project.loaded_files) == 50


def test_cleanup_reports_details_and_runs_callbacks(manager, fake_engine):
    _fill(fake_engine, "p", P.MEDIUM, 2).fill(queries=10, size=100)
    seen = []
    manager.register_cleanup_callback(lambda: seen.append("no-arg"))
    manager.register_cleanup_callback(lambda result: seen.append(result.files_unloaded))
    result = manager.cleanup_detailed()
    assert result.files_unloaded == 10 and result.cache_entries_cleared == 5
    assert result.freed_mb > 0
    assert seen == ["no-arg", 10]
    assert manager.cleanup() is True


def test_a_raising_callback_does_not_stop_the_others(manager, fake_engine):
    seen = []

    def broken(level):
        raise RuntimeError("callback bug")

    manager.register_limit_exceeded_callback(broken)
    manager.register_limit_exceeded_callback(lambda level: seen.append(level))
    manager.register_limit_exceeded_callback(lambda: seen.append("zero-arg"))
    _fill(fake_engine, "p", P.CRITICAL, 35)  # critical: nothing can be freed
    manager.monitor.auto_enforce = False
    assert manager.monitor.tick() is ThresholdLevel.SOFT
    assert seen == [ThresholdLevel.SOFT, "zero-arg"]


def test_monitoring_thread_survives_raising_callbacks(manager, fake_engine):
    fired = threading.Event()

    def broken():
        fired.set()
        raise RuntimeError("boom")

    manager.register_limit_exceeded_callback(broken)
    _fill(fake_engine, "p", P.CRITICAL, 35)
    manager.start_monitoring(interval=0.01)
    assert fired.wait(5)
    ticks = manager.monitor.ticks
    for _ in range(500):
        if manager.monitor.ticks > ticks + 2:
            break
        threading.Event().wait(0.01)
    assert manager.monitoring and manager.monitor.ticks > ticks + 2
    manager.stop_monitoring()
    assert not manager.monitoring


def test_monitoring_enforces_automatically(manager, fake_engine):
    project = _fill(fake_engine, "p", P.LOW, 45)  # 95 MB
    manager.start_monitoring(interval_seconds=0.01)
    for _ in range(500):
        if manager.probe.rss_bytes() / MB < 93:
            break
        threading.Event().wait(0.01)
    manager.stop_monitoring()
    assert manager.probe.rss_bytes() / MB < 93
    assert len(project.loaded_files) < 450


def test_alerts_honour_alert_on_settings(manager, fake_engine, monkeypatch):
    from engine.config import set_reload_manager

    monkeypatch.setenv("LEINDEX_MEMORY_MONITORING_ALERT_ON_SOFT_LIMIT", "false")
    set_reload_manager(None)
    alerts = []
    manager.register_alert_listener(lambda level, message: alerts.append((level, message)))
    manager.monitor.auto_enforce = False
    _fill(fake_engine, "p", P.CRITICAL, 35)  # SOFT: no alert wanted
    manager.monitor.tick()
    assert alerts == []
    manager.probe.rss_mb += 10  # 95 MB: HARD
    manager.monitor.tick()
    assert [a[0] for a in alerts] == [ThresholdLevel.HARD]
    assert "HARD limit passed" in alerts[0][1]


def test_limits_follow_the_live_config(fake_engine, fake_probe, monkeypatch):
    from engine.config import get_reload_manager, set_reload_manager

    manager = MemoryManager(engine=fake_engine, probe=fake_probe)
    assert manager.limits.budget_mb == 3072
    monkeypatch.setenv("LEINDEX_MEMORY_TOTAL_BUDGET_MB", "1000")
    set_reload_manager(None)
    assert manager.limits.soft_mb == pytest.approx(800)
    get_reload_manager().apply_overrides({"soft_limit_mb": 700})
    assert manager.limits.soft_mb == pytest.approx(700)


def test_spill_and_load_arbitrary_data(manager):
    data = {"rows": [[1, "a"], [2, "b"]]}
    assert manager.spill_to_disk("large_object", data) is True
    assert manager.load_from_disk("large_object") == data
    assert manager.load_from_disk("missing") is None
    assert manager.last_load_error


def test_spill_refused_when_full_returns_false_with_reason(manager, monkeypatch):
    monkeypatch.setenv("LEINDEX_MEMORY_SPILL_MAX_SPILL_SIZE_MB", "1")
    from engine.config import set_reload_manager

    set_reload_manager(None)
    assert manager.spill_to_disk("big", b"x" * (2 * MB)) is False
    assert "max_spill_size_mb" in manager.last_spill_error


def test_spill_disabled_drops_instead(manager, fake_engine, monkeypatch):
    monkeypatch.setenv("LEINDEX_MEMORY_SPILL_ENABLED", "false")
    from engine.config import set_reload_manager

    set_reload_manager(None)
    project = _fill(fake_engine, "p", P.MEDIUM, 5)
    result = manager.spill_caches()
    assert not result.success and "disabled" in result.error
    assert len(project.loaded_files) == 0


def test_dashboard_status_is_complete(manager, fake_engine):
    _fill(fake_engine, "p", P.HIGH, 10, last_accessed=42.0)
    manager.evict(1, P.HIGH, trigger="key")
    _fill(fake_engine, "q", P.LOW, 5)
    status = manager.get_dashboard_status()
    assert status.level == "NORMAL"
    assert status.budget_mb == 100 and status.soft_limit_mb == 80
    assert status.soft_limit_percent == pytest.approx(0.8)
    assert status.loaded_files == 50
    assert [p.name for p in status.projects] == ["p", "q"]
    assert status.projects[0].priority == "HIGH" and status.projects[0].last_accessed == 42.0
    assert status.evictions[-1].trigger == "key"
    assert status.rss_history_mb
    keys = {child.key for child in status.breakdown.children}
    assert keys == {"heap", "stack", "code", "other_rss"}


def test_graceful_shutdown_stops_monitoring(manager):
    manager.start_monitoring(interval=10)
    manager.graceful_shutdown()
    assert not manager.monitoring


def test_config_reload_retunes_the_monitoring_interval(manager):
    from types import SimpleNamespace

    from engine.config import get_config

    old = get_config()
    manager.start_monitoring(old.memory.monitoring.interval_seconds)  # as the runtime does
    new_monitoring = old.memory.monitoring.model_copy(update={"interval_seconds": 5.0})
    new = old.model_copy(
        update={"memory": old.memory.model_copy(update={"monitoring": new_monitoring})}
    )
    manager.on_config_reloaded(SimpleNamespace(new_config=new, old_config=old))
    assert manager.monitor.interval_seconds == 5.0
    disabled = new.model_copy(
        update={
            "memory": new.memory.model_copy(
                update={"monitoring": new_monitoring.model_copy(update={"enabled": False})}
            )
        }
    )
    manager.on_config_reloaded(SimpleNamespace(new_config=disabled, old_config=new))
    assert not manager.monitoring


def test_a_budget_below_the_floor_is_reported_once_and_empty_passes_stop(
    fake_engine, fake_probe, limits
):
    now = [1000.0]
    fake_probe.rss_mb = 99  # past EMERGENCY (98) with nothing cached: the floor
    fake_probe.follow = fake_engine.cache_bytes
    manager = MemoryManager(limits, engine=fake_engine, probe=fake_probe, clock=lambda: now[0])
    floor_alerts = []
    manager.register_alert_listener(
        lambda level, message: "floor" in message and floor_alerts.append(message)
    )
    low = fake_engine.add("low", P.LOW)

    manager.monitor.tick()
    for _ in range(5):
        now[0] += 60
        manager.monitor.tick()

    assert len(EvictionManager().get_history()) == 1  # one empty pass, not one per tick
    assert len(floor_alerts) == 1
    assert "99.0 MB" in floor_alerts[0] and "at least 128" in floor_alerts[0]
    assert manager.floor.floor_mb == pytest.approx(99, abs=0.1)
    assert "engine's floor" in manager.get_dashboard_status().floor_note

    low.fill(files=50, size=MB // 10)  # something to free again: enforcement resumes
    now[0] += 60
    manager.monitor.tick()
    assert len(EvictionManager().get_history()) == 2
    assert len(low.loaded_files) == 0 and len(floor_alerts) == 1

    fake_probe.rss_mb = 50
    manager.monitor.tick()
    assert manager.floor is None and manager.get_dashboard_status().floor_note == ""


def test_status_never_holds_a_list_of_every_object(manager, monkeypatch):
    # A list of every object (gc.get_objects) alive while another thread builds a tuple from
    # an iterator makes that thread fail: `tuple()` resizes its result, which must have one
    # reference only. The status is read while indexing runs, so it must not take one.
    import gc

    held: list = []
    monkeypatch.setattr(gc, "get_objects", lambda *a, **k: held.append(1) or [])

    def ticks():
        for n in range(64):
            if n == 8:
                status = manager.get_status()  # as another thread would, mid-tuple
            yield n
        assert status.gc_objects > 0

    assert len(tuple(ticks())) == 64
    assert held == []
