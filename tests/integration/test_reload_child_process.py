"""SIGHUP and `leindex reload` against a real child process running a Runtime."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tests.integration.conftest import write_corpus

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 20.0

# The child starts a Runtime with the real engine, reports each reload on stdout, and blocks
# its main thread (as a TUI or MCP server would) until a signal ends it.
CHILD_SCRIPT = textwrap.dedent(
    """
    import sys, threading
    sys.path.insert(0, sys.argv[1])
    from engine.runtime import Runtime

    runtime = Runtime(paths=sys.argv[2:], watch_config=False)
    runtime.start()
    runtime.install_signal_handlers()
    project = runtime.engine.registry.list()[0]

    def report(result):
        caps = project.loaded_files.max_entries
        print(f"reloaded success={result.success} max_loaded_files={caps}", flush=True)

    runtime.register_reload_listener(report)
    project.ready.wait(60)
    for n in range(8):
        project.read_file(f"pkg/module_{n:02d}.py")
    runtime.engine.search("lookup", project=project.name)
    print(f"ready files={len(project.loaded_files)}", " ".join(runtime.warnings), flush=True)
    threading.Event().wait()
    """
)


class Child:
    """A child process running CHILD_SCRIPT over a corpus, with LEINDEX_HOME set."""

    def __init__(self, home: Path, corpus: Path, script: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEINDEX_")}
        env["LEINDEX_HOME"] = str(home)
        self.home = home
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(REPO_ROOT), str(corpus)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        self.ready_line = self.read_line()
        # "ready files=N ...": how many files the child holds loaded when it is ready.
        self.loaded_files = int(self.ready_line.split()[1].split("=")[1])

    def _pump_stdout(self) -> None:
        with self.process.stdout:
            for line in self.process.stdout:
                self._lines.put(line)
        self._lines.put("")  # end of output

    def read_line(self) -> str:
        """The child's next stdout line; fails with its stderr and log if none comes in time."""
        try:
            line = self._lines.get(timeout=WAIT_SECONDS)
        except queue.Empty:
            line = ""
        if not line:
            alive = self.process.poll() is None
            if alive:
                self.process.kill()
            self.process.wait(WAIT_SECONDS)
            log = self.home / "logs" / "leindex.log"
            log_tail = log.read_text()[-3000:] if log.exists() else "(no log)"
            raise AssertionError(
                f"no line from the child ({'timed out' if alive else 'it exited'}); "
                f"stderr: {self.process.stderr.read()[-3000:]}\nlog: {log_tail}"
            )
        return line.strip()

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def wait(self) -> int:
        code = self.process.wait(WAIT_SECONDS)
        self.process.stderr.close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.wait()


@pytest.fixture
def child_factory(tmp_path: Path, tmp_leindex_home: Path):
    script = tmp_path / "runtime_child.py"
    script.write_text(CHILD_SCRIPT)
    corpus = write_corpus(tmp_path / "corpus")
    children: list[Child] = []

    def start() -> Child:
        child = Child(tmp_leindex_home, corpus, script)
        children.append(child)
        assert child.ready_line.startswith("ready"), child.ready_line
        return child

    yield start
    for child in children:
        child.kill()


def test_sighup_to_a_child_applies_the_edited_config(child_factory, tmp_leindex_home) -> None:
    child = child_factory()
    (tmp_leindex_home / "config.yaml").write_text(
        "memory:\n  project_defaults:\n    max_loaded_files: 3\n"
    )

    child.signal(signal.SIGHUP)

    assert child.read_line() == "reloaded success=True max_loaded_files=3"


def test_sighup_with_an_invalid_file_keeps_the_childs_config(
    child_factory, tmp_leindex_home
) -> None:
    child = child_factory()
    config = tmp_leindex_home / "config.yaml"
    config.write_text("memory:\n  project_defaults:\n    max_loaded_files: 5\n")
    child.signal(signal.SIGHUP)
    assert child.read_line() == "reloaded success=True max_loaded_files=5"

    config.write_text("memory:\n  project_defaults:\n    max_loaded_files: -1\n")
    child.signal(signal.SIGHUP)

    assert child.read_line() == "reloaded success=False max_loaded_files=5"


def test_leindex_reload_cli_reaches_the_child(child_factory, tmp_leindex_home) -> None:
    child = child_factory()
    (tmp_leindex_home / "config.yaml").write_text(
        "memory:\n  project_defaults:\n    max_loaded_files: 2\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEINDEX_")}
    env["LEINDEX_HOME"] = str(tmp_leindex_home)

    cli = subprocess.run(
        [sys.executable, "-m", "leindex_tui.cli", "reload"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )

    assert cli.returncode == 0, cli.stderr
    assert f"pid {child.process.pid}" in cli.stdout
    assert child.read_line() == "reloaded success=True max_loaded_files=2"


def test_leindex_reload_without_a_running_instance_says_so(tmp_leindex_home) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEINDEX_")}
    env["LEINDEX_HOME"] = str(tmp_leindex_home)

    cli = subprocess.run(
        [sys.executable, "-m", "leindex_tui.cli", "reload"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )

    assert cli.returncode == 1
    assert "no leindex is running" in cli.stderr
    assert "Traceback" not in cli.stderr


def test_leindex_reload_with_a_stale_pidfile_says_so(tmp_leindex_home) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tmp_leindex_home.mkdir(parents=True)
    (tmp_leindex_home / "leindex.pid").write_text(f"{dead.pid}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEINDEX_")}
    env["LEINDEX_HOME"] = str(tmp_leindex_home)

    cli = subprocess.run(
        [sys.executable, "-m", "leindex_tui.cli", "reload"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )

    assert cli.returncode == 1
    assert "stale" in cli.stderr and str(dead.pid) in cli.stderr


def test_second_instance_keeps_running_without_taking_the_pidfile(
    child_factory, tmp_leindex_home
) -> None:
    first = child_factory()
    pidfile = tmp_leindex_home / "leindex.pid"
    assert pidfile.read_text().strip() == str(first.process.pid)

    second = child_factory()

    assert "another leindex" in second.ready_line and str(first.process.pid) in second.ready_line
    assert second.process.poll() is None
    assert pidfile.read_text().strip() == str(first.process.pid)
    # The second one's exit must not remove the first one's pidfile.
    second.signal(signal.SIGTERM)
    second.wait()
    assert pidfile.read_text().strip() == str(first.process.pid)
