"""Reservations: granted when they fit, room made from lower priorities, else refused."""

from __future__ import annotations

import pytest

from engine.memory import EvictionManager, MemoryLimits, MemoryManager, ProjectPriority
from engine.memory.reservations import Purpose, ReservationRefused

MB = 1024 * 1024
P = ProjectPriority


@pytest.fixture(autouse=True)
def clean_history():
    EvictionManager().clear_history()
    yield
    EvictionManager().clear_history()


@pytest.fixture
def manager(fake_engine, fake_probe):
    limits = MemoryLimits(
        soft_limit_mb=80, hard_limit_mb=93, emergency_limit_mb=98, total_budget_mb=100
    )
    fake_probe.follow = fake_engine.cache_bytes
    return MemoryManager(limits, engine=fake_engine, probe=fake_probe)


def test_a_request_that_fits_is_granted_and_released(manager, fake_probe):
    fake_probe.rss_mb = 50
    grant = manager.reserver.reserve(10 * MB, Purpose.INDEX_BATCH, P.MEDIUM, "p")
    assert manager.reserver.reserved_bytes() == 10 * MB
    grant.release()
    grant.release()
    assert manager.reserver.reserved_bytes() == 0


def test_outstanding_grants_count_against_the_budget(manager, fake_probe):
    fake_probe.rss_mb = 50
    manager.reserver.reserve(40 * MB, Purpose.VECTOR_INDEX, P.MEDIUM, "p")
    with pytest.raises(ReservationRefused) as refused:
        manager.reserver.reserve(10 * MB, Purpose.VECTOR_INDEX, P.MEDIUM, "p")
    assert "hard limit" in refused.value.reason
    assert refused.value.available_bytes == 3 * MB


def test_room_is_made_by_evicting_a_lower_priority_project(manager, fake_engine, fake_probe):
    fake_probe.rss_mb = 70
    low = fake_engine.add("low", P.LOW)
    low.vector_bytes = 20 * MB
    grant = manager.reserver.reserve(5 * MB, Purpose.VECTOR_INDEX, P.MEDIUM, "medium")
    assert grant.nbytes == 5 * MB
    assert not low.vector_index_loaded
    assert EvictionManager().get_history()


def test_a_reservation_never_evicts_higher_priority_data(manager, fake_engine, fake_probe):
    fake_probe.rss_mb = 70
    high = fake_engine.add("high", P.HIGH)
    high.vector_bytes = 20 * MB
    with pytest.raises(ReservationRefused):
        manager.reserver.reserve(5 * MB, Purpose.VECTOR_INDEX, P.LOW, "low")
    assert high.vector_index_loaded and high.vector_bytes == 20 * MB
    assert not EvictionManager().get_history()


def test_a_refused_cache_insert_serves_without_caching(manager, fake_engine, fake_probe):
    from engine.memory.reservations import set_default_reserver

    fake_probe.rss_mb = 92.9
    project = fake_engine.add("p", P.MEDIUM)
    set_default_reserver(manager.reserver)
    try:
        stored = project.loaded_files.put("big.py", "x" * MB)
    finally:
        set_default_reserver(None)
    assert stored is False
    assert project.loaded_files.refused_inserts == 1
    assert project.loaded_files.get("big.py") is None
