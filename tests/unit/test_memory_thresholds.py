"""Threshold levels, warnings and the hysteresis of the monitoring level."""

from __future__ import annotations

import pytest

from engine.memory import MemoryLimits, ThresholdLevel, check_thresholds
from engine.memory.limits import resolve_limits
from engine.memory.thresholds import LevelTracker


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (1000, None),
        (2458, ThresholdLevel.SOFT),
        (2800, ThresholdLevel.SOFT),
        (2857, ThresholdLevel.HARD),
        (3011, ThresholdLevel.EMERGENCY),
        (5000, ThresholdLevel.EMERGENCY),
    ],
)
def test_one_memory_warning_for_the_highest_level_reached(current, expected):
    warnings = check_thresholds(current_memory_mb=current, budget_mb=3072)
    if expected is None:
        assert warnings == []
    else:
        assert [w.level for w in warnings] == [expected]
        assert warnings[0].message and warnings[0].suggested_action


def test_warning_message_names_usage_and_limit():
    [warning] = check_thresholds(current_memory_mb=2900, budget_mb=3072)
    assert "2900.0 MB" in warning.message and "HARD" in warning.message
    assert "Spill" in warning.suggested_action


def test_level_prints_as_its_name():
    assert f"{ThresholdLevel.SOFT}" == "SOFT"
    assert str(ThresholdLevel.EMERGENCY) == "EMERGENCY"
    assert ThresholdLevel.NORMAL < ThresholdLevel.SOFT < ThresholdLevel.HARD


def test_loaded_files_and_cached_queries_over_caps_warn():
    warnings = check_thresholds(100, 3072, loaded_files=1001, cached_queries=501)
    assert {w.kind for w in warnings} == {"loaded_files", "cached_queries"}
    assert all(w.level is ThresholdLevel.SOFT for w in warnings)
    assert check_thresholds(100, 3072, loaded_files=1000, cached_queries=500) == []


def test_percents_follow_the_live_config(monkeypatch):
    monkeypatch.setenv("LEINDEX_MEMORY_SOFT_LIMIT_PERCENT", "0.5")
    from engine.config import set_reload_manager

    set_reload_manager(None)
    [warning] = check_thresholds(current_memory_mb=1600, budget_mb=3072)
    assert warning.level is ThresholdLevel.SOFT
    assert warning.threshold_value == pytest.approx(1536)


def test_explicit_limits_override_config():
    limits = MemoryLimits(soft_limit_mb=100, hard_limit_mb=200)
    [warning] = check_thresholds(150, 1000, limits=limits)
    assert warning.level is ThresholdLevel.SOFT


def test_bad_budget_is_rejected():
    with pytest.raises(ValueError, match="budget_mb"):
        check_thresholds(100, 0)


def test_memory_limits_validate_order():
    with pytest.raises(ValueError, match="below"):
        MemoryLimits(soft_limit_mb=300, hard_limit_mb=200)
    with pytest.raises(ValueError, match="> 0"):
        MemoryLimits(soft_limit_mb=0, hard_limit_mb=200)


def test_explicit_limits_derive_budget_and_emergency():
    resolved = resolve_limits(MemoryLimits(soft_limit_mb=800, hard_limit_mb=930))
    assert resolved.budget_mb == pytest.approx(1000)
    assert resolved.emergency_mb == pytest.approx(980)


def test_hysteresis_level_does_not_flap_at_the_boundary():
    limits = resolve_limits(None)  # budget 3072: soft 2457.6, margin 61.44
    tracker = LevelTracker(hysteresis_fraction=0.02)
    assert tracker.update(2460, limits) is ThresholdLevel.SOFT
    # Oscillating just around the soft limit keeps SOFT...
    for value in (2455, 2458, 2440, 2457, 2400):
        assert tracker.update(value, limits) is ThresholdLevel.SOFT
    # ...until usage is clearly below it.
    assert tracker.update(2390, limits) is ThresholdLevel.NORMAL


def test_hysteresis_rises_at_once_and_steps_down_level_by_level():
    limits = resolve_limits(None)
    tracker = LevelTracker()
    assert tracker.update(3050, limits) is ThresholdLevel.EMERGENCY
    assert tracker.update(2990, limits) is ThresholdLevel.EMERGENCY  # within the margin
    assert tracker.update(2900, limits) is ThresholdLevel.HARD
    assert tracker.update(1000, limits) is ThresholdLevel.NORMAL
