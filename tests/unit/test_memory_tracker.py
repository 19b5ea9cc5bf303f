"""The tracker: current, peak, average, per-project MB and a fixed-size history ring."""

from __future__ import annotations

import pytest

from engine.memory import MemoryTracker, get_current_usage_mb


def test_stats_track_current_peak_and_average(fake_probe):
    tracker = MemoryTracker(fake_probe)
    for value in (100, 300, 200):
        fake_probe.rss_mb = value
        tracker.sample()
    stats = tracker.get_stats()
    assert stats["current_mb"] == 200
    assert stats["peak_mb"] == 300
    assert stats["average_mb"] == 200
    assert stats["sample_count"] == 3


def test_check_memory_budget(fake_probe):
    tracker = MemoryTracker(fake_probe)
    fake_probe.rss_mb = 500
    assert tracker.check_memory_budget(max_mb=3072)
    assert not tracker.check_memory_budget(max_mb=400)


def test_history_ring_is_bounded_and_oldest_first(fake_probe):
    tracker = MemoryTracker(fake_probe, history_size=4)
    for value in range(1, 8):
        tracker.record(float(value))
    assert tracker.history_mb() == (4.0, 5.0, 6.0, 7.0)
    assert tracker._ring.itemsize * len(tracker._ring) == 16  # fixed cost


def test_per_project_mb_is_reported(fake_probe):
    tracker = MemoryTracker(fake_probe)
    tracker.update_projects({"core": 12.5})
    assert tracker.get_stats()["projects_mb"] == {"core": 12.5}


def test_global_tracker_measures_real_rss():
    tracker = MemoryTracker.get_global_tracker()
    assert tracker is MemoryTracker.get_global_tracker()
    assert 5 < get_current_usage_mb() < 100_000


def test_stats_include_the_managers_per_project_mb(fake_probe, fake_engine):
    from engine.memory import MemoryManager

    fake_engine.add("core").fill(files=10, size=100_000)
    manager = MemoryManager(engine=fake_engine, probe=fake_probe)
    projects = manager.tracker.get_stats()["projects_mb"]
    assert projects["core"] == pytest.approx(fake_engine.cache_bytes() / 2**20)


def test_real_probe_reads_a_consistent_sample():
    from engine.memory.probe import MemoryProbe

    probe = MemoryProbe()
    sample = probe.sample()
    assert sample.rss > 0 and 0 < sample.anon <= sample.rss
    assert sample.heap == sample.anon and sample.file <= sample.rss
    assert abs(probe.rss_bytes() - sample.rss) < 64 * 2**20
    assert probe.mapped_bytes("/nonexistent/prefix/") == 0
    assert isinstance(probe.return_memory_to_os(), bool)
