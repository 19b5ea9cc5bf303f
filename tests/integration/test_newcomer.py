"""The newcomer check: a fresh clone of this checkout, run with this venv's interpreter inside
tmux, shows the dashboard (title and memory gauge) within its first seconds and quits on `q`.
Skipped when tmux is absent."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOW_SECONDS = 20.0
QUIT_SECONDS = 20.0

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.timeout(120),
]


class Tmux:
    """A tmux server of our own (its own socket), so no user session is touched."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=check,
        )

    def screen(self, session: str) -> str:
        done = self("capture-pane", "-p", "-t", session, check=False)
        return done.stdout if done.returncode == 0 else ""

    def alive(self, session: str) -> bool:
        return self("has-session", "-t", session, check=False).returncode == 0


def _poll(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    target = tmp_path / "leindex-clone"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(target)], check=True, timeout=60)
    return target


@pytest.fixture
def tmux(tmp_path: Path):
    server = Tmux(f"leindex-newcomer-{os.getpid()}")
    yield server
    server("kill-server", check=False)


def test_a_fresh_clone_shows_the_dashboard_in_tmux_and_quits_on_q(
    clone: Path, tmux: Tmux, tmp_path: Path
) -> None:
    home, exit_file = tmp_path / "home", tmp_path / "exit-status"
    # `python -m` puts the clone first on sys.path: the clone's code runs, not this tree's.
    where = subprocess.run(
        [sys.executable, "-c", "import leindex_tui; print(leindex_tui.__file__)"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert Path(where.stdout.strip()).is_relative_to(clone)
    command = (
        f"cd {shlex.quote(str(clone))} && LEINDEX_HOME={shlex.quote(str(home))} "
        f"{shlex.quote(sys.executable)} -m leindex_tui.cli .; "
        f"echo $? > {shlex.quote(str(exit_file))}"
    )

    tmux("new-session", "-d", "-x", "100", "-y", "30", "-s", "newcomer", command)
    # The title, the memory gauge and the key bar: a whole first frame.
    marks = ("LeIndex", "Memory budget", "Quit")
    shown = _poll(lambda: all(m in tmux.screen("newcomer") for m in marks), SHOW_SECONDS)
    screen = tmux.screen("newcomer")
    tmux("send-keys", "-t", "newcomer", "q")
    quit_ = _poll(lambda: not tmux.alive("newcomer"), QUIT_SECONDS)

    assert shown, f"no dashboard within {SHOW_SECONDS} s; the screen was:\n{screen}"
    assert quit_, "the app did not quit on q"
    assert exit_file.read_text().strip() == "0"
