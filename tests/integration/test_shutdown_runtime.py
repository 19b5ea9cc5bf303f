"""Runtime.shutdown and MemoryManager.graceful_shutdown in-process: what stops, what is saved."""

from __future__ import annotations

import os
import signal
import stat
import threading
from pathlib import Path

from engine.lifecycle.cache_state import read_cache_state
from engine.lifecycle.logging_setup import log_file_path

WAIT_SECONDS = 10.0


def _ready_project(runtime):
    project = runtime.engine.registry.list()[0]
    assert project.ready.wait(WAIT_SECONDS)
    for n in range(4):
        project.read_file(f"pkg/module_{n:02d}.py")
    return project


def test_shutdown_saves_state_stops_everything_and_removes_pidfile(
    start_runtime, small_corpus: Path, tmp_leindex_home: Path
) -> None:
    runtime = start_runtime(paths=[small_corpus])
    project = _ready_project(runtime)
    assert runtime.wait_watcher_ready(WAIT_SECONDS)
    assert runtime.memory_manager.monitoring
    pidfile = tmp_leindex_home / "leindex.pid"
    assert pidfile.read_text().strip() == str(os.getpid())

    report = runtime.shutdown()

    assert report.errors == ()
    assert report.loaded_files_saved == 4
    state_file = tmp_leindex_home / "cache_state.json"
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert read_cache_state(state_file).loaded_file_count == 4
    assert not pidfile.exists()
    assert not runtime.memory_manager.monitoring
    assert not runtime._watcher.running
    assert project.closed
    assert not runtime.running


def test_shutdown_is_idempotent_and_concurrent_calls_share_one_save(
    start_runtime, small_corpus: Path, tmp_leindex_home: Path
) -> None:
    runtime = start_runtime(paths=[small_corpus])
    _ready_project(runtime)
    reports = []
    threads = [
        threading.Thread(target=lambda: reports.append(runtime.shutdown())) for _ in range(4)
    ]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    reports.append(runtime.shutdown())

    assert len(reports) == 5
    assert all(report is reports[0] for report in reports)
    assert reports[0].loaded_files_saved == 4


def test_config_changes_after_shutdown_are_not_applied(
    start_runtime, small_corpus: Path, tmp_leindex_home: Path
) -> None:
    runtime = start_runtime(paths=[small_corpus])
    _ready_project(runtime)
    assert runtime.wait_watcher_ready(WAIT_SECONDS)
    heard = []
    runtime.register_reload_listener(heard.append)
    runtime.shutdown()

    (tmp_leindex_home / "config.yaml").write_text("memory:\n  max_loaded_files: 3\n")
    threading.Event().wait(0.3)  # longer than the watcher's debounce

    assert heard == []


def test_guides_memory_manager_graceful_shutdown_persists_state(
    start_runtime, small_corpus: Path, tmp_leindex_home: Path
) -> None:
    runtime = start_runtime(paths=[small_corpus], watch_config=False)
    _ready_project(runtime)

    runtime.memory_manager.graceful_shutdown()  # the guide's call

    assert read_cache_state(tmp_leindex_home / "cache_state.json").loaded_file_count == 4
    assert not runtime.memory_manager.monitoring
    # The runtime's own shutdown afterwards finds the work done and does not save again.
    (tmp_leindex_home / "cache_state.json").unlink()
    runtime.shutdown()
    assert not (tmp_leindex_home / "cache_state.json").exists()
    assert not (tmp_leindex_home / "leindex.pid").exists()


def test_sigterm_runs_shutdown_then_the_terminate_callback(
    start_runtime, small_corpus: Path, tmp_leindex_home: Path
) -> None:
    runtime = start_runtime(paths=[small_corpus], watch_config=False)
    _ready_project(runtime)
    terminated = threading.Event()
    seen: list[tuple[int, bool]] = []

    def on_terminate(signum: int) -> None:
        seen.append((signum, (tmp_leindex_home / "cache_state.json").exists()))
        terminated.set()

    previous = signal.getsignal(signal.SIGTERM)
    runtime.install_signal_handlers(on_terminate=on_terminate)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert terminated.wait(WAIT_SECONDS)
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert seen == [(signal.SIGTERM, True)]  # the state was on disk before the callback
    assert not (tmp_leindex_home / "leindex.pid").exists()


def test_runtime_logs_to_a_private_file_and_never_to_stdout(
    start_runtime, small_corpus: Path, tmp_leindex_home: Path, capfd
) -> None:
    runtime = start_runtime(paths=[small_corpus], headless=True)
    _ready_project(runtime)
    runtime.reload("test")
    runtime.shutdown()

    log_file = log_file_path(tmp_leindex_home)
    assert "leindex runtime started" in log_file.read_text()
    assert "leindex runtime stopped" in log_file.read_text()
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_file.parent.stat().st_mode) == 0o700
    assert capfd.readouterr().out == ""


def test_stale_pidfile_is_replaced_at_start_and_removed_at_exit(
    start_runtime, small_corpus: Path, tmp_leindex_home: Path
) -> None:
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tmp_leindex_home.mkdir(parents=True)
    pidfile = tmp_leindex_home / "leindex.pid"
    pidfile.write_text(f"{dead.pid}\n")

    runtime = start_runtime(paths=[small_corpus], watch_config=False)

    assert runtime.warnings == ()
    assert runtime.pidfile_status.replaced_stale_pid == dead.pid
    assert pidfile.read_text().strip() == str(os.getpid())
    assert stat.S_IMODE(pidfile.stat().st_mode) == 0o600
    runtime.shutdown()
    assert not pidfile.exists()


def test_bad_project_path_is_a_warning_and_the_rest_runs(
    start_runtime, small_corpus: Path, tmp_path: Path
) -> None:
    runtime = start_runtime(paths=[tmp_path / "missing", small_corpus], watch_config=False)

    assert any("missing" in warning for warning in runtime.warnings)
    (project,) = runtime.engine.registry.list()
    assert project.ready.wait(WAIT_SECONDS)
    assert runtime.shutdown().errors == ()


def test_failed_start_undoes_itself(
    small_corpus: Path, tmp_leindex_home: Path, monkeypatch
) -> None:
    import pytest

    import engine.index
    from engine.runtime import Runtime

    def broken_engine(*args, **kwargs):
        raise RuntimeError("index directory unusable")

    monkeypatch.setattr(engine.index, "Engine", broken_engine)
    runtime = Runtime(paths=[small_corpus])

    with pytest.raises(RuntimeError, match="index directory unusable"):
        runtime.start()

    assert not (tmp_leindex_home / "leindex.pid").exists()
    assert not runtime.running
