"""kill -9 at random moments while a child indexes and writes every kind of file, then a
restart that serves: state, spill files, vectors, manifest and tantivy commits survive."""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.integration.corpus import UNIQUE_WORD, write_corpus

pytestmark = pytest.mark.timeout(240)

REPO_ROOT = Path(__file__).resolve().parents[2]
KILLS = 20
START_SECONDS = 30.0

# Mode "loop": start, search, then write every kind of file over and over until killed.
# Mode "check": start, search, read back what the loop wrote, print it as JSON and exit.
CHILD_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from engine.index.manifest import Manifest
    from engine.lifecycle.cache_state import read_cache_state
    from engine.memory import persistence
    from engine.runtime import Runtime

    mode, corpus, word = sys.argv[2], Path(sys.argv[3]), sys.argv[4]
    runtime = Runtime(paths=[corpus], watch_config=False)
    runtime.start()
    project = runtime.engine.registry.list()[0]
    project.ready.wait(60)
    hits = runtime.engine.search(word, project=project.name).hits
    print(json.dumps({"ready": True, "hits": len(hits), "warnings": runtime.warnings}), flush=True)
    manager = runtime.memory_manager
    if mode == "check":
        runtime.wait_restored(30)
        durable = {}
        for slot in range(4):
            value = manager.load_from_disk(f"durable-{slot}")
            durable[slot] = "missing" if value is None else value["n"]
        Manifest.load(project.index_dir / "manifest.json")  # raises if unreadable
        state = read_cache_state(runtime.home / "cache_state.json")
        print(json.dumps({
            "durable": durable,
            "load_error": manager.last_load_error,
            "vectors": project.load_vectors(),
            "semantic_hits": len(runtime.engine.search(word, mode="semantic").hits),
            "state_files": state.loaded_file_count if state else None,
            "progress": project.progress.phase,
        }), flush=True)
        runtime.shutdown()
        sys.exit(0)
    n = 0
    while True:
        n += 1
        (corpus / "pkg" / "churn.py").write_text(f"churn_value_{n} = {n}\\n" * (n % 50 + 1))
        runtime.engine.update_files(project.name, ["pkg/churn.py"])  # a tantivy commit
        project.persist()  # the vectors sidecar, then the manifest
        for m in range(8):
            project.read_file(f"pkg/module_{m:02d}.py")
        runtime.engine.search(f"churn_value_{n}", project=project.name)
        persistence.save_cache_state(runtime.engine, runtime.home)  # cache_state.json
        manager.spill_to_disk(f"durable-{n % 4}", {"n": n, "pad": "x" * 50_000})
        manager.spill_caches(trigger="fault test")  # cache spill files
    """
)


class _Child:
    """A child running CHILD_SCRIPT; its stdout lines arrive on a queue."""

    def __init__(self, script: Path, mode: str, corpus: Path, home: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEINDEX_")}
        env["LEINDEX_HOME"] = str(home)
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(REPO_ROOT), mode, str(corpus), UNIQUE_WORD],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put("")

    def next_json(self, timeout: float = START_SECONDS) -> dict:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            line = ""
        if not line:
            self.process.kill()
            raise AssertionError(f"no line from the child; stderr: {self.process.stderr.read()}")
        return json.loads(line)

    def kill9(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(START_SECONDS)
        self.process.stdout.close()
        self.process.stderr.close()


def test_restart_after_repeated_kill_9_during_writes_serves_and_loses_nothing(
    tmp_path: Path, tmp_leindex_home: Path
) -> None:
    script = tmp_path / "writer_child.py"
    script.write_text(CHILD_SCRIPT)
    corpus = write_corpus(tmp_path / "corpus")
    delays = random.Random(15)  # fixed seed: the same varied kill moments every run
    restarts_that_served = 0

    for _ in range(KILLS):
        child = _Child(script, "loop", corpus, tmp_leindex_home)
        # Some kills land while the child starts (indexing, restore), most while it writes.
        time.sleep(delays.uniform(0.05, 1.5))
        child.kill9()
        while not child.lines.empty():
            line = child.lines.get()
            if line:
                ready = json.loads(line)
                assert ready["hits"] >= 1, ready
                restarts_that_served += 1

    final = _Child(script, "check", corpus, tmp_leindex_home)
    ready = final.next_json()
    report = final.next_json()
    assert final.process.wait(START_SECONDS) == 0

    assert restarts_that_served > 0  # the kills did land after starts, during the writes
    assert ready["hits"] >= 1  # full-text serves the known token
    assert report["progress"] == "ready"
    assert report["vectors"] and report["semantic_hits"] >= 1
    # Every durable spill slot written at least once reads back (or says why it cannot).
    assert all(v != "missing" for v in report["durable"].values()) or report["load_error"]
    log = (tmp_leindex_home / "logs" / "leindex.log").read_text(errors="replace")
    assert "Traceback" not in log
    warnings = [line for line in log.splitlines() if " WARNING " in line]
    for set_aside in tmp_leindex_home.rglob("*.corrupt.*"):
        # A file that could not be read was moved aside, and a warning names where it was.
        assert any(str(set_aside.parent) in line for line in warnings), set_aside
    assert report["state_files"] is not None or "cache state" in " ".join(ready["warnings"])
