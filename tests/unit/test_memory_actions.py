"""The action queue: priority order, failures reported without stopping the rest."""

from __future__ import annotations

import threading

import pytest

from engine.memory import ActionType, MemoryManager
from engine.memory.actions import ActionQueue, ActionStatus


@pytest.fixture
def manager(fake_probe, fake_engine):
    return MemoryManager(engine=fake_engine, probe=fake_probe)


def test_actions_run_highest_priority_first_fifo_within(manager):
    queue = ActionQueue()
    ran = []
    for name, priority in (("a", 5), ("b", 7), ("c", 5), ("d", 9)):
        queue.enqueue(ActionType.GC, name, priority, handler=lambda n=name: ran.append(n))
    results = queue.execute_all(manager)
    assert ran == ["d", "b", "a", "c"]
    assert [r.description for r in results] == ran
    assert all(r.status is ActionStatus.COMPLETED for r in results)
    assert queue.pending() == []


def test_a_failing_action_is_reported_and_the_rest_still_run(manager):
    queue = ActionQueue()
    ran = []

    def boom():
        raise RuntimeError("disk on fire")

    queue.enqueue(ActionType.SPILL_TO_DISK, "fails", 9, handler=boom)
    queue.enqueue(ActionType.GC, "works", 1, handler=lambda: ran.append("gc"))
    failed, worked = queue.execute_all(manager)
    assert failed.status is ActionStatus.FAILED
    assert "disk on fire" in failed.error
    assert worked.status is ActionStatus.COMPLETED and worked.error is None
    assert ran == ["gc"]
    assert f"{failed.action_type}: {failed.status}" == "SPILL_TO_DISK: failed"


def test_default_handlers_drive_the_manager(manager, fake_engine, fake_probe):
    project = fake_engine.add("p").fill(files=10, queries=10)
    fake_probe.follow = fake_engine.cache_bytes
    queue = ActionQueue()
    queue.enqueue(ActionType.CLEANUP, "cleanup", 5)
    queue.enqueue(ActionType.GC, "gc", 1)
    cleanup, gc_result = queue.execute_all(manager)
    assert cleanup.status is ActionStatus.COMPLETED
    assert cleanup.details.files_unloaded == 5 and cleanup.details.cache_entries_cleared == 5
    assert cleanup.freed_mb > 0  # measured through the probe
    assert len(project.loaded_files) == 5
    assert gc_result.duration_seconds >= 0


def test_results_carry_duration_and_freed(manager, fake_probe):
    queue = ActionQueue()

    def shrink():
        fake_probe.rss_mb -= 10

    queue.enqueue(ActionType.CLEANUP, "shrink", handler=shrink)
    [result] = queue.execute_all(manager)
    assert result.freed_mb == pytest.approx(10)
    assert result.duration_seconds >= 0


def test_unknown_action_type_is_rejected():
    with pytest.raises(ValueError, match="unknown action type"):
        ActionQueue().enqueue("defragment", "nope")


def test_enqueue_is_thread_safe(manager):
    queue = ActionQueue()

    def add_many():
        for _ in range(200):
            queue.enqueue(ActionType.GC, "x", 1, handler=lambda: None)

    threads = [threading.Thread(target=add_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results = queue.execute_all(manager)
    assert len(results) == 800
    assert len({r.action_id for r in results}) == 800


def test_module_level_queue_uses_the_default_manager(manager):
    from engine.memory import enqueue_action, execute_all_actions, set_memory_manager

    set_memory_manager(manager)
    try:
        enqueue_action(ActionType.GC, "gc", priority=3)
        [result] = execute_all_actions()
        assert result.status is ActionStatus.COMPLETED
    finally:
        set_memory_manager(None)
