"""leindex.pid: exclusive creation, stale replacement, live owners respected, removal at exit."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engine.pidfile import PID_FILE_NAME, PidFile, pid_alive, read_pid, running_instance_pid


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def pid_path(tmp_leindex_home: Path) -> Path:
    return tmp_leindex_home / PID_FILE_NAME


def test_acquire_writes_own_pid_with_private_mode(pid_path: Path) -> None:
    status = PidFile(pid_path).acquire()

    assert status.owned and status.owner_pid == os.getpid()
    assert read_pid(pid_path) == os.getpid()
    assert stat.S_IMODE(pid_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(pid_path.parent.stat().st_mode) == 0o700


def test_release_removes_file_and_is_idempotent(pid_path: Path) -> None:
    pidfile = PidFile(pid_path)
    pidfile.acquire()

    assert pidfile.release() is True
    assert not pid_path.exists()
    assert pidfile.release() is False


def test_stale_pidfile_of_dead_process_is_replaced(pid_path: Path) -> None:
    dead = _dead_pid()
    pid_path.parent.mkdir(parents=True)
    pid_path.write_text(f"{dead}\n")

    status = PidFile(pid_path).acquire()

    assert status.owned and status.replaced_stale_pid == dead
    assert read_pid(pid_path) == os.getpid()
    assert stat.S_IMODE(pid_path.stat().st_mode) == 0o600


@pytest.mark.parametrize("content", ["", "garbage\n", "-5\n", "12 34\n"])
def test_unreadable_pidfile_is_treated_as_stale(pid_path: Path, content: str) -> None:
    pid_path.parent.mkdir(parents=True)
    pid_path.write_text(content)

    status = PidFile(pid_path).acquire()

    assert status.owned
    assert read_pid(pid_path) == os.getpid()


def test_live_owner_keeps_pidfile_and_second_instance_is_warned(pid_path: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert PidFile(pid_path, pid=owner.pid).acquire().owned

        second = PidFile(pid_path)
        status = second.acquire()

        assert not status.owned and status.owner_pid == owner.pid
        assert status.warning and str(owner.pid) in status.warning
        assert read_pid(pid_path) == owner.pid
        # Releasing a pidfile we never owned must not delete the live owner's file.
        assert second.release() is False
        assert read_pid(pid_path) == owner.pid
    finally:
        owner.kill()
        owner.wait()


def test_pid_reused_by_a_younger_process_counts_as_stale(pid_path: Path) -> None:
    # Our own process is alive but started long before this fake "written_at": a pidfile
    # written before our start could not be ours, so the owner must be a different, dead one.
    assert pid_alive(os.getpid())
    assert not pid_alive(os.getpid(), written_at=0.0)


def test_release_does_not_remove_a_file_taken_over_by_someone_else(pid_path: Path) -> None:
    pidfile = PidFile(pid_path)
    pidfile.acquire()
    pid_path.write_text("1\n")

    assert pidfile.release() is False
    assert pid_path.exists()


def test_running_instance_pid_reports_each_case(tmp_leindex_home: Path, pid_path: Path) -> None:
    pid, reason = running_instance_pid(tmp_leindex_home)
    assert pid is None and "no leindex is running" in reason

    pid_path.parent.mkdir(parents=True)
    pid_path.write_text(f"{_dead_pid()}\n")
    pid, reason = running_instance_pid(tmp_leindex_home)
    assert pid is None and "stale" in reason

    pid_path.write_text("not a pid\n")
    pid, reason = running_instance_pid(tmp_leindex_home)
    assert pid is None and "does not hold a pid" in reason

    pid_path.write_text(f"{os.getpid()}\n")
    assert running_instance_pid(tmp_leindex_home) == (os.getpid(), None)


def test_two_pidfiles_racing_for_one_home_yield_one_owner(pid_path: Path) -> None:
    import threading

    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        results = []
        barrier = threading.Barrier(2)

        def start(pid: int) -> None:
            barrier.wait()
            results.append(PidFile(pid_path, pid=pid).acquire())

        threads = [threading.Thread(target=start, args=(p,)) for p in (owner.pid, other.pid)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(r.owned for r in results) == [False, True]
        winner = next(r for r in results if r.owned)
        assert read_pid(pid_path) == winner.owner_pid
    finally:
        for process in (owner, other):
            process.kill()
            process.wait()
