"""Faults of the process and its home: a SIGHUP storm, two instances and two racing first
starts on one home. Each runs real child processes that answer commands on stdin."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from engine.lifecycle.cache_state import read_cache_state
from tests.integration.corpus import UNIQUE_WORD, write_corpus

pytestmark = pytest.mark.timeout(120)

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 30.0
STORM_SIGNALS = 1000

# A Runtime over the paths given; commands arrive as JSON lines on stdin (read on a thread, so
# the main thread is parked as in the TUI or MCP server), answers go out as JSON lines.
CHILD_SCRIPT = textwrap.dedent(
    """
    import json, sys, threading
    sys.path.insert(0, sys.argv[1])
    from engine.runtime import Runtime

    runtime = Runtime(paths=sys.argv[2:], watch_config=False)
    runtime.start()
    runtime.install_signal_handlers()
    reloads = []
    runtime.register_reload_listener(lambda result: reloads.append(result.success))
    for project in runtime.engine.registry.list():
        project.ready.wait(60)
    manager = runtime.memory_manager

    def answer(**fields):
        print(json.dumps(fields), flush=True)

    def serve():
        for line in sys.stdin:
            command = json.loads(line)
            op = command["op"]
            if op == "search":
                hits = runtime.engine.search(command["query"]).hits
                answer(hits=len(hits))
            elif op == "reloads":
                answer(reloads=len(reloads), ok=all(reloads))
            elif op == "spill":
                answer(ok=manager.spill_to_disk(command["key"], command["value"]))
            elif op == "load":
                answer(value=manager.load_from_disk(command["key"]), error=manager.last_load_error)
            elif op == "read":
                project = runtime.engine.registry.list()[0]
                answer(text=project.read_file(command["path"]) is not None)

    threading.Thread(target=serve, daemon=True).start()
    owned = runtime.pidfile_status is not None and runtime.pidfile_status.owned
    answer(ready=True, owner=owned, warnings=list(runtime.warnings))
    threading.Event().wait()
    """
)


class Child:
    """A child running CHILD_SCRIPT; `ask` sends one command and returns the answer."""

    def __init__(self, script: Path, home: Path, *paths: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEINDEX_")}
        env["LEINDEX_HOME"] = str(home)
        self.home = home
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(REPO_ROOT), *map(str, paths)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put("")

    def next_answer(self) -> dict:
        try:
            line = self._lines.get(timeout=WAIT_SECONDS)
        except queue.Empty:
            line = ""
        if not line:
            self.process.kill()
            log = self.home / "logs" / "leindex.log"
            tail = log.read_text()[-3000:] if log.exists() else "(no log)"
            raise AssertionError(f"no answer; stderr: {self.process.stderr.read()}\n{tail}")
        return json.loads(line)

    def ask(self, op: str, **fields) -> dict:
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        return self.next_answer()

    def stop(self) -> int:
        os.kill(self.process.pid, signal.SIGTERM)
        code = self.process.wait(WAIT_SECONDS)
        self.close()
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(WAIT_SECONDS)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            stream.close()


@pytest.fixture
def spawn(tmp_path: Path, tmp_leindex_home: Path):
    """spawn(*paths) starts a Child on the test's home; all are stopped afterwards."""
    script = tmp_path / "command_child.py"
    script.write_text(CHILD_SCRIPT)
    children: list[Child] = []

    def start(*paths: Path) -> Child:
        child = Child(script, tmp_leindex_home, *paths)
        children.append(child)
        return child

    yield start
    for child in children:
        child.close()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus")


def test_sighup_storm_keeps_serving_coalesces_reloads_and_exits_on_sigterm(
    spawn, corpus: Path
) -> None:
    child = spawn(corpus)
    assert child.next_answer()["ready"]

    for _ in range(STORM_SIGNALS):  # spread over about a second, not one burst
        os.kill(child.process.pid, signal.SIGHUP)
        time.sleep(0.001)
    during = child.ask("search", query=UNIQUE_WORD)
    time.sleep(1.0)  # let the reloads still queued run (no timing is asserted)
    after = child.ask("search", query=UNIQUE_WORD)
    reloads = child.ask("reloads")

    assert during["hits"] >= 1 and after["hits"] >= 1
    assert 1 <= reloads["reloads"] < STORM_SIGNALS, reloads  # coalesced, none lost entirely
    assert reloads["ok"]
    print(f"{STORM_SIGNALS} SIGHUPs sent -> {reloads['reloads']} reloads run")
    assert child.stop() == 128 + signal.SIGTERM


def test_two_instances_on_one_home_one_owns_the_state_and_both_serve(
    spawn, corpus: Path, tmp_leindex_home: Path
) -> None:
    owner = spawn(corpus)
    assert owner.next_answer()["owner"]
    second = spawn(corpus)
    hello = second.next_answer()

    assert not hello["owner"]
    assert any("another leindex" in warning for warning in hello["warnings"])
    assert owner.ask("search", query=UNIQUE_WORD)["hits"] >= 1
    assert second.ask("search", query=UNIQUE_WORD)["hits"] >= 1
    assert second.ask("read", path="pkg/module_01.py")["text"]
    assert second.stop() == 143
    assert not (tmp_leindex_home / "cache_state.json").exists()  # only the owner saves
    assert owner.ask("read", path="pkg/module_02.py")["text"]
    assert owner.stop() == 143
    state = read_cache_state(tmp_leindex_home / "cache_state.json")
    assert state is not None and state.loaded_file_count >= 1


def test_two_racing_first_starts_share_the_spill_secret_and_one_pidfile(
    spawn, corpus: Path, tmp_leindex_home: Path
) -> None:
    assert not tmp_leindex_home.exists()  # a fresh home: both create everything at once
    first, second = spawn(corpus), spawn(corpus)
    hellos = [first.next_answer(), second.next_answer()]

    assert sorted(hello["owner"] for hello in hellos) == [False, True]
    assert first.ask("spill", key="written-by-first", value="payload")["ok"]
    # Same secret: the other process verifies the first one's MAC and reads the spill.
    loaded = second.ask("load", key="written-by-first")
    assert loaded["value"] == "payload", loaded
    assert first.stop() == 143 and second.stop() == 143
    restarted = spawn(corpus)
    assert restarted.next_answer()["ready"]
    assert restarted.ask("load", key="written-by-first")["value"] == "payload"
    assert read_cache_state(tmp_leindex_home / "cache_state.json") is not None
