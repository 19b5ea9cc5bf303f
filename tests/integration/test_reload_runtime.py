"""Zero-downtime reload on a live Runtime: triggers, bad files, observers, searches in flight."""

from __future__ import annotations

import argparse
import os
import queue
import signal
import threading
import time
from pathlib import Path

import pytest

from engine.config import get_config, get_reload_manager
from tests.integration.conftest import UNIQUE_FILE, UNIQUE_WORD

WAIT_SECONDS = 10.0


def _wait_for(predicate, timeout: float = WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def _caps_config(max_loaded_files: int, max_cached_queries: int = 50) -> str:
    return (
        "memory:\n"
        "  project_defaults:\n"
        f"    max_loaded_files: {max_loaded_files}\n"
        f"    max_cached_queries: {max_cached_queries}\n"
    )


def _write(path: Path, text: str) -> None:
    """Save like an editor does: write a temp file, rename it over the real one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


@pytest.fixture
def live(start_runtime, small_corpus: Path, tmp_leindex_home: Path):
    """A started runtime over the small corpus, indexed, with 10 loaded files."""
    runtime = start_runtime(paths=[small_corpus])
    project = runtime.engine.registry.list()[0]
    assert project.ready.wait(WAIT_SECONDS)
    for n in range(10):
        assert project.read_file(f"pkg/module_{n:02d}.py") is not None
    assert runtime.wait_watcher_ready(WAIT_SECONDS)
    return runtime, project, tmp_leindex_home


def test_config_file_write_changes_live_engine_caps(live) -> None:
    runtime, project, home = live
    results: queue.Queue = queue.Queue()
    runtime.register_reload_listener(results.put)

    _write(home / "config.yaml", _caps_config(4))

    result = results.get(timeout=WAIT_SECONDS)
    assert result.success
    assert project.loaded_files.max_entries == 4
    assert len(project.loaded_files) == 4  # the excess was unloaded at once
    assert any("unloaded 6 loaded files" in change for change in result.changes)


def test_project_file_write_changes_that_projects_caps(live) -> None:
    runtime, project, home = live
    results: queue.Queue = queue.Queue()
    runtime.register_reload_listener(results.put)

    _write(home / "projects" / f"{project.name}.yaml", "memory:\n  max_loaded_files: 3\n")

    assert results.get(timeout=WAIT_SECONDS).success
    assert project.loaded_files.max_entries == 3
    assert len(project.loaded_files) == 3


def test_deleting_the_config_file_goes_back_to_defaults(live) -> None:
    runtime, project, home = live
    results: queue.Queue = queue.Queue()
    runtime.register_reload_listener(results.put)
    _write(home / "config.yaml", _caps_config(4))
    assert results.get(timeout=WAIT_SECONDS).success

    (home / "config.yaml").unlink()

    assert results.get(timeout=WAIT_SECONDS).success
    assert project.loaded_files.max_entries == 100  # the guide's project default


def test_sighup_reloads_in_this_process(live) -> None:
    runtime, project, home = live
    results: queue.Queue = queue.Queue()
    runtime.register_reload_listener(results.put)
    runtime._watcher.stop()  # only the signal may trigger this reload
    runtime.install_signal_handlers()
    (home / "config.yaml").write_text(_caps_config(5))

    os.kill(os.getpid(), signal.SIGHUP)

    assert results.get(timeout=WAIT_SECONDS).success
    assert project.loaded_files.max_entries == 5


def test_leindex_reload_command_signals_the_pidfile_owner(live, capsys) -> None:
    from leindex_tui.commands import reload as reload_command

    runtime, project, home = live
    results: queue.Queue = queue.Queue()
    runtime.register_reload_listener(results.put)
    runtime._watcher.stop()
    runtime.install_signal_handlers()
    (home / "config.yaml").write_text(_caps_config(6))

    status = reload_command.run(argparse.Namespace(no_validate=False))

    assert status == 0
    assert f"pid {os.getpid()}" in capsys.readouterr().out
    assert results.get(timeout=WAIT_SECONDS).success
    assert project.loaded_files.max_entries == 6


def test_leindex_reload_command_refuses_an_invalid_file(live, capsys) -> None:
    from leindex_tui.commands import reload as reload_command

    runtime, project, home = live
    runtime._watcher.stop()
    (home / "config.yaml").write_text("memory:\n  max_loaded_files: many\n")

    status = reload_command.run(argparse.Namespace(no_validate=False))

    assert status == 1
    error = capsys.readouterr().err
    assert "config.yaml:2" in error and "max_loaded_files" in error


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("memory:\n\tmax_loaded_files: 5\n", 2, None),  # YAML syntax: a tab
        ("memory:\n  soft_limit_percent: 0.8\n  max_loaded_files: lots\n", 3, "max_loaded_files"),
        ("memory:\n  total_budget_mb: 1024\n  soft_limit_percent: 7.5\n", 3, "soft_limit_percent"),
    ],
    ids=["syntax", "type", "range"],
)
def test_invalid_file_keeps_previous_config_and_reports_file_line(
    live, text: str, line: int, key: str | None
) -> None:
    runtime, project, home = live
    results: queue.Queue = queue.Queue()
    runtime.register_reload_listener(results.put)
    _write(home / "config.yaml", _caps_config(7))
    assert results.get(timeout=WAIT_SECONDS).success
    before = get_config()

    _write(home / "config.yaml", text)

    result = results.get(timeout=WAIT_SECONDS)
    assert not result.success
    assert f"config.yaml:{line}" in result.error
    if key:
        assert key in result.error
    assert get_config() is before
    assert project.loaded_files.max_entries == 7
    assert runtime.last_reload is result

    _write(home / "config.yaml", _caps_config(3))  # a later valid write applies normally

    assert results.get(timeout=WAIT_SECONDS).success
    assert project.loaded_files.max_entries == 3


def test_observers_are_called_once_per_reload_with_the_new_config(live) -> None:
    runtime, project, home = live
    seen: list[int] = []

    class Counting:
        def on_config_reloaded(self, event) -> None:
            seen.append(event.new_config.memory.project_defaults.max_loaded_files)

    observer = Counting()
    get_reload_manager().register_observer(observer)
    runtime._watcher.stop()
    try:
        for cap in (11, 12, 13):
            (home / "config.yaml").write_text(_caps_config(cap))
            assert runtime.reload("test").success
        (home / "config.yaml").write_text("memory: [broken\n")
        assert not runtime.reload("test").success
    finally:
        get_reload_manager().unregister_observer(observer)

    assert seen == [11, 12, 13]


def test_reload_listener_errors_do_not_stop_other_listeners(live) -> None:
    runtime, project, home = live
    runtime._watcher.stop()
    good: list = []

    def bad(result) -> None:
        raise RuntimeError("listener bug")

    runtime.register_reload_listener(bad)
    unregister = runtime.register_reload_listener(good.append)
    runtime.reload("test")
    unregister()
    runtime.reload("test")

    assert len(good) == 1


def test_burst_of_writes_ends_on_the_last_valid_content(live) -> None:
    runtime, project, home = live
    for cap in range(20, 40):
        _write(home / "config.yaml", _caps_config(cap))
    _write(home / "config.yaml", "memory: {broken\n")  # an invalid write in the burst
    _write(home / "config.yaml", _caps_config(41))

    assert _wait_for(lambda: project.loaded_files.max_entries == 41)
    time.sleep(0.4)  # any reload still debouncing has run by now
    assert project.loaded_files.max_entries == 41
    assert get_config().memory.project_defaults.max_loaded_files == 41


def test_hundred_reloads_while_four_threads_search(live) -> None:
    runtime, project, home = live
    runtime._watcher.stop()
    engine = runtime.engine
    stop = threading.Event()
    failures: list[str] = []
    counts = [0, 0, 0, 0]

    def searcher(index: int) -> None:
        modes = ("fulltext", "semantic", "hybrid", "fulltext")
        while not stop.is_set():
            try:
                response = engine.search(UNIQUE_WORD, mode=modes[index], limit=5)
                paths = [hit.path for hit in response.hits]
                if UNIQUE_FILE not in paths:
                    failures.append(f"{modes[index]}: {paths}")
            except Exception as error:
                failures.append(f"{modes[index]}: {type(error).__name__}: {error}")
            counts[index] += 1

    threads = [threading.Thread(target=searcher, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        for i in range(100):
            # Caps swing low and high so that reloads really trim the caches under the searches.
            (home / "config.yaml").write_text(_caps_config(1 + i % 7, 1 + i % 5))
            result = runtime.reload("test")
            assert result.success, result.error
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert failures == []
    assert all(count > 0 for count in counts)
    assert project.query_cache.max_entries == 1 + 99 % 5


def test_reload_retunes_memory_limits_and_monitoring(live) -> None:
    runtime, project, home = live
    manager = runtime.memory_manager
    runtime._watcher.stop()
    assert manager.monitoring and manager.monitor.interval_seconds == 30.0

    (home / "config.yaml").write_text(
        "memory:\n  total_budget_mb: 2048\n  monitoring:\n    interval_seconds: 5\n"
    )
    assert runtime.reload("test").success

    assert manager.limits.budget_mb == 2048
    assert manager.monitor.interval_seconds == 5.0

    (home / "config.yaml").write_text("memory:\n  monitoring:\n    enabled: false\n")
    assert runtime.reload("test").success
    assert not manager.monitoring

    (home / "config.yaml").write_text("memory:\n  monitoring:\n    enabled: true\n")
    assert runtime.reload("test").success
    assert manager.monitoring


def test_invalid_config_at_start_is_a_warning_and_a_fix_applies_live(
    start_runtime, small_corpus: Path, tmp_leindex_home: Path
) -> None:
    tmp_leindex_home.mkdir(parents=True)
    (tmp_leindex_home / "config.yaml").write_text("memory:\n  max_cached_queries: none\n")

    runtime = start_runtime(paths=[small_corpus])

    assert any("config.yaml:2" in warning for warning in runtime.warnings)
    project = runtime.engine.registry.list()[0]
    assert project.ready.wait(WAIT_SECONDS)
    assert project.loaded_files.max_entries == 100  # built-in defaults
    assert runtime.wait_watcher_ready(WAIT_SECONDS)

    _write(tmp_leindex_home / "config.yaml", _caps_config(9))

    assert _wait_for(lambda: project.loaded_files.max_entries == 9)
