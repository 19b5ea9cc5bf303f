"""Closing the terminal under the dashboard ends it gracefully instead of leaving it orphaned."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="needs a Linux pty")


def _read_until(master_fd: int, needle: bytes, deadline: float) -> bytes:
    seen = b""
    while time.monotonic() < deadline and needle not in seen:
        try:
            chunk = os.read(master_fd, 65536)
        except OSError:
            break
        seen += chunk
    return seen


def test_terminal_hangup_saves_state_and_exits(tmp_path: Path, tmp_leindex_home: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "main.py").write_text("def hello():\n    return 'world'\n")
    master_fd, slave_fd = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    child = subprocess.Popen(
        [sys.executable, "-m", "leindex_tui.cli", str(project)],
        stdin=slave_fd,
        stdout=slave_fd,
        stderr=slave_fd,
        env=env,
        start_new_session=True,  # the pty becomes the child's controlling terminal
        preexec_fn=lambda: __import__("fcntl").ioctl(0, __import__("termios").TIOCSCTTY, 0),
    )
    os.close(slave_fd)
    try:
        painted = _read_until(master_fd, b"Memory", time.monotonic() + 30)
        assert b"Memory" in painted, painted[-500:]
        pidfile = tmp_leindex_home / "leindex.pid"
        deadline = time.monotonic() + 10
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

        os.close(master_fd)  # the terminal goes away: the kernel sends SIGHUP to the session
        master_fd = -1
        exit_code = child.wait(timeout=30)

        assert exit_code == 128 + signal.SIGHUP
        state = json.loads((tmp_leindex_home / "cache_state.json").read_text())
        assert state["version"] == "1.0" and str(project) in state["projects"]
        assert not pidfile.exists()
    finally:
        if master_fd >= 0:
            os.close(master_fd)
        if child.poll() is None:
            child.kill()
            child.wait()
