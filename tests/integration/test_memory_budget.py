"""Real RSS stays within the budget while a workload would need twice as much.

The workload runs in a child process (so this test process's own RSS does not count): an
engine with one project, its caches allowed by the engine's own caps to grow far past the
budget, and a MemoryManager with a 300 MB budget monitoring every 20 ms. The workload reads
files through the loaded-files cache and runs searches until it has loaded twice the budget;
a sampler thread reads statm every 20 ms. Every file read and every search is checked
against the right answer, so cleanup, spill and reload must all stay correct.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BUDGET_MB = 300
FILE_MB = 1
DISTINCT_FILES = 16
NAMES = 2 * BUDGET_MB // FILE_MB  # loading all of them needs twice the budget

CHILD = r"""
import hashlib, json, os, sys, threading, time
budget, home, corpus, names, distinct = sys.argv[1:6]
budget, names, distinct = float(budget), int(names), int(distinct)
from engine import procfs
from engine.index import Engine
from engine.memory import MemoryLimits, MemoryManager

engine = Engine(home=home, watch_files=False)
project = engine.add_project(corpus, exclude=("bulk/",))
words = [f"token{n}" for n in range(12)]
answers = {w: engine.search(w, limit=50).hits for w in words}
expected = {}
for n in range(distinct):
    with open(os.path.join(corpus, "bulk", f"src{n}.txt")) as handle:
        expected[n] = hashlib.sha256(handle.read().encode()).hexdigest()

manager = MemoryManager(
    MemoryLimits(
        soft_limit_mb=budget * 0.80,
        hard_limit_mb=budget * 0.93,
        emergency_limit_mb=budget * 0.98,
        total_budget_mb=budget,
    ),
    engine=engine,
)
peak = [0]
stop = threading.Event()

def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], procfs.statm_rss_bytes())
        time.sleep(0.02)

sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
baseline_mb = procfs.statm_rss_bytes() / 2**20
manager.start_monitoring(interval=0.02)
wrong = []
reads = searches = 0
for rounds in range(2):
    for i in range(names):
        n = i % distinct
        text = project.read_file(f"bulk/f{i:04d}.txt")
        reads += 1
        if text is None or hashlib.sha256(text.encode()).hexdigest() != expected[n]:
            wrong.append(f"file {i}")
        if rounds == 0 and i == names // 2:
            # A HARD-level action mid-run: what is spilled must come back right in round 2.
            spill = manager.spill_caches(trigger="api")
            spilled_entries = spill.entries_spilled
            spilled_on_disk = manager.spill_store().cache_spill_count()
        if i % 10 == 0:
            word = words[(i // 10) % len(words)]
            hits = engine.search(word, limit=50).hits
            searches += 1
            if hits != answers[word]:
                wrong.append(f"search {word}")
manager.stop_monitoring()
stop.set()
sampler.join()
peak[0] = max(peak[0], procfs.statm_rss_bytes())
print(json.dumps({
    "peak_mb": peak[0] / 2**20,
    "baseline_mb": baseline_mb,
    "reads": reads,
    "searches": searches,
    "wrong": wrong[:10],
    "loaded_mb": reads * os.path.getsize(os.path.join(corpus, "bulk", "src0.txt")) / 2**20,
    "spilled_mb": manager.spill_store().usage_bytes() / 2**20,
    "ticks": manager.monitor.ticks,
    "spilled_entries": spilled_entries,
    "reloaded_from_spill": spilled_on_disk - manager.spill_store().cache_spill_count(),
    "final_files": len(project.loaded_files),
}))
engine.close()
"""


def _corpus(root: Path) -> Path:
    bulk = root / "bulk"
    bulk.mkdir(parents=True)
    for n in range(12):
        (root / f"mod{n}.py").write_text(
            "".join(f"def token{n}_{i}(x):\n    return 'token{n}' + x\n" for i in range(40))
        )
    line = "abcdefghijklmnopqrstuvwxyz0123456789 " * 2 + "\n"
    for n in range(DISTINCT_FILES):
        text = f"file {n}\n" + line * (FILE_MB * 2**20 // len(line))
        (bulk / f"src{n}.txt").write_text(text)
    # Many names, few bytes on disk: each name is its own cache entry (its own str in memory).
    for i in range(NAMES):
        os.link(bulk / f"src{i % DISTINCT_FILES}.txt", bulk / f"f{i:04d}.txt")
    return root


@pytest.mark.timeout(300)
def test_rss_stays_within_budget_while_searches_stay_correct(tmp_path, tmp_leindex_home):
    corpus = _corpus(tmp_path / "corpus")
    env = dict(os.environ)
    env["LEINDEX_HOME"] = str(tmp_leindex_home)
    # The engine's own caps are set far above the budget so the memory manager is what
    # keeps RSS down.
    env["LEINDEX_MEMORY_TOTAL_BUDGET_MB"] = "100000"
    env["LEINDEX_MEMORY_MAX_LOADED_FILES"] = "100000"
    env["LEINDEX_MEMORY_PROJECT_DEFAULTS_MAX_LOADED_FILES"] = "100000"
    env["LEINDEX_MEMORY_SPILL_MAX_SPILL_SIZE_MB"] = "2000"
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(BUDGET_MB),
            str(tmp_leindex_home),
            str(corpus),
            str(NAMES),
            str(DISTINCT_FILES),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=280,
        cwd=Path(__file__).parents[2],
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    print(report)
    assert report["wrong"] == []
    assert report["loaded_mb"] >= 2 * BUDGET_MB  # the workload really needed twice the budget
    assert report["baseline_mb"] < BUDGET_MB * 0.5
    assert report["peak_mb"] <= BUDGET_MB * 1.02
    assert report["spilled_entries"] > 0 and report["reloaded_from_spill"] > 0
