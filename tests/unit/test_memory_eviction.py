"""Eviction policy: order, thresholds, CRITICAL never, exclusions, target, history."""

from __future__ import annotations

import pytest

from engine.memory import EvictionManager, MemoryManager, ProjectPriority, emergency_eviction
from engine.memory.ejection import HISTORY_LIMIT, evict_projects

MB = 1024 * 1024
P = ProjectPriority


@pytest.fixture(autouse=True)
def clean_history():
    EvictionManager().clear_history()
    yield
    EvictionManager().clear_history()


@pytest.fixture
def engine(fake_engine, fake_probe):
    fake_probe.follow = fake_engine.cache_bytes
    fake_engine.add("low-old", P.LOW, last_accessed=1).fill(files=100, size=10_000)
    fake_engine.add("low-new", P.LOW, last_accessed=5).fill(files=100, size=10_000)
    fake_engine.add("medium", P.MEDIUM, last_accessed=0).fill(files=100, size=10_000)
    fake_engine.add("high", P.HIGH, last_accessed=0).fill(files=100, size=10_000)
    fake_engine.add("critical", P.CRITICAL, last_accessed=0).fill(files=100, size=10_000)
    for project in fake_engine.list():
        project.vector_bytes = MB
    return fake_engine


def test_lowest_priority_least_recent_first_and_stops_at_target(engine, fake_probe):
    result = evict_projects(engine.list(), fake_probe, target_mb=0.5, priority_threshold=P.HIGH)
    assert result.evicted_projects == ["low-old"]
    assert result.target_met
    assert len(engine.projects["low-new"].loaded_files) == 100


def test_threshold_is_inclusive(engine, fake_probe):
    result = evict_projects(
        engine.list(), fake_probe, target_mb=10_000, priority_threshold=P.MEDIUM
    )
    assert result.evicted_projects == ["low-old", "low-new", "medium"]
    assert result.total_candidates == 3
    assert not result.target_met


def test_critical_is_never_evicted_whatever_the_threshold(engine, fake_probe):
    result = evict_projects(
        engine.list(), fake_probe, target_mb=10_000, priority_threshold=P.CRITICAL
    )
    assert "critical" not in result.evicted_projects
    critical = engine.projects["critical"]
    assert len(critical.loaded_files) == 100 and critical.vector_index_loaded


def test_excluded_projects_are_kept(engine, fake_probe):
    result = evict_projects(
        engine.list(),
        fake_probe,
        target_mb=10_000,
        priority_threshold=P.HIGH,
        excluded_projects=["low-old", "high"],
    )
    assert result.evicted_projects == ["low-new", "medium"]
    assert len(engine.projects["low-old"].loaded_files) == 100


def test_eviction_drops_caches_unloads_vectors_and_measures_rss(engine, fake_probe):
    project = engine.projects["low-old"]
    accounted = project.loaded_files.bytes + project.vector_bytes
    result = evict_projects(engine.list(), fake_probe, target_mb=0.1)
    assert len(project.loaded_files) == 0 and not project.vector_index_loaded
    assert result.evicted_count_mb == pytest.approx(accounted / MB, abs=0.01)
    assert result.freed_mb == pytest.approx(accounted / MB, abs=0.01)  # via the fake probe
    assert result.evicted_count == 101  # 100 files + the vector index
    assert fake_probe.trim_calls == 1


def test_bad_arguments_are_rejected(engine, fake_probe):
    with pytest.raises(ValueError, match="target_mb"):
        evict_projects(engine.list(), fake_probe, target_mb=0)
    with pytest.raises(ValueError, match="priority"):
        evict_projects(engine.list(), fake_probe, target_mb=1, priority_threshold="urgent")
    with pytest.raises(ValueError, match="trigger"):
        evict_projects(engine.list(), fake_probe, target_mb=1, trigger="cron")


def test_history_is_process_wide_with_the_guide_keys(engine, fake_probe):
    evict_projects(engine.list(), fake_probe, target_mb=0.5, trigger="key")
    [entry] = EvictionManager().get_history()  # a new instance sees it
    for key in ("timestamp", "evicted_count", "total_candidates", "target_mb", "freed_mb"):
        assert key in entry
    assert entry["trigger"] == "key"
    assert entry["evicted_projects"] == ["low-old"]


def test_history_is_bounded(engine, fake_probe):
    for _ in range(HISTORY_LIMIT + 5):
        evict_projects(engine.list(), fake_probe, target_mb=0.5)
    assert len(EvictionManager().get_history()) == HISTORY_LIMIT


def test_module_function_uses_the_default_manager(engine, fake_probe):
    from engine.memory import set_memory_manager

    set_memory_manager(MemoryManager(engine=engine, probe=fake_probe))
    try:
        result = emergency_eviction(target_mb=0.5, priority_threshold=ProjectPriority.MEDIUM)
    finally:
        set_memory_manager(None)
    assert result.evicted_projects == ["low-old"]
    assert EvictionManager().records()[-1].evicted_projects == ("low-old",)


def test_a_full_disk_while_one_project_saves_does_not_stop_the_eviction(engine, fake_probe):
    import errno

    failing = engine.projects["low-old"]

    def save_fails() -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    failing.unload_vectors = save_fails
    result = evict_projects(
        engine.list(), fake_probe, target_mb=10_000, priority_threshold=P.MEDIUM
    )
    assert result.evicted_projects == ["low-old", "low-new", "medium"]
    assert len(failing.loaded_files) == 0 and failing.vector_index_loaded
    assert not engine.projects["medium"].vector_index_loaded
    assert EvictionManager().get_history()[-1]["evicted_projects"] == result.evicted_projects
