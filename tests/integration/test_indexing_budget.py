"""Real RSS stays within a small budget while a ~50 MB corpus is indexed with vectors.

The child process installs the memory manager (and so its reserver) before indexing, sets
the budget to its settled RSS + 176 MB, and samples statm (its own and its indexing workers')
every 20 ms while it indexes every file (full-text and semantic, nothing excluded), then
answers full-text and semantic searches for needles planted in the corpus.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FILES = 1000
FILE_BYTES = 50 * 1024
HEADROOM_MB = 176

CHILD = r"""
import json, sys, threading, time
home, corpus, headroom = sys.argv[1], sys.argv[2], float(sys.argv[3])
from engine import procfs
from engine.index import Engine
from engine.memory import MemoryLimits, MemoryManager, set_memory_manager
from engine.memory.probe import worker_processes_rss_bytes

engine = Engine(home=home, watch_files=False)
engine.search  # imports settled
baseline_mb = procfs.statm_rss_bytes() / 2**20
budget = baseline_mb + headroom
manager = MemoryManager(
    MemoryLimits(
        soft_limit_mb=budget * 0.80,
        hard_limit_mb=budget * 0.93,
        emergency_limit_mb=budget * 0.98,
        total_budget_mb=budget,
    ),
    engine=engine,
)
set_memory_manager(manager)
peak = [0]
stop = threading.Event()

def sample():
    while not stop.is_set():
        # Indexing worker processes (if any run) are the engine's memory too.
        peak[0] = max(peak[0], procfs.statm_rss_bytes() + worker_processes_rss_bytes())
        time.sleep(0.02)

sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
manager.start_monitoring(interval=0.02)
paused = []
project = engine.add_project(corpus, on_progress=lambda p: p.paused and paused.append(p.paused))
fulltext = [h.path for h in engine.search("zebrafish_quantum_ledger").hits]
semantic = [h.path for h in engine.search("quantum ledger zebrafish", mode="semantic").hits]
manager.stop_monitoring()
stop.set()
sampler.join()
peak[0] = max(peak[0], procfs.statm_rss_bytes())
print(json.dumps({
    "baseline_mb": baseline_mb,
    "budget_mb": budget,
    "peak_mb": peak[0] / 2**20,
    "indexed": len(project.manifest.files),
    "pending_vectors": len(project.pending_vector_paths),
    "vector_chunks": len(project.vectors) if project.vectors is not None else -1,
    "fulltext": fulltext,
    "semantic": semantic[:5],
    "paused": paused[:3],
    "granted": manager.reserver.granted,
    "refused": manager.reserver.refused,
}))
engine.close()
"""


def _corpus(root: Path) -> Path:
    """FILES files of FILE_BYTES of distinct code-like text, and one small needle file."""
    root.mkdir(parents=True)
    for n in range(FILES):
        lines = []
        size = i = 0
        while size < FILE_BYTES:
            line = (
                f"def handler_{n}_{i}(request_{i}, payload_{n % 97}):\n"
                f"    return route_{i % 13}(request_{i})\n"
            )
            lines.append(line)
            size += len(line)
            i += 1
        sub = root / f"pkg{n % 20:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"module_{n:04d}.py").write_text("".join(lines))
    (root / "pkg07" / "ledger.py").write_text(
        "def zebrafish_quantum_ledger(entries):\n    return sum(entries)\n"
    )
    return root


@pytest.mark.timeout(300)
def test_indexing_a_50_mb_corpus_with_vectors_stays_within_a_small_budget(
    tmp_path, tmp_leindex_home
):
    corpus = _corpus(tmp_path / "corpus")
    env = dict(os.environ, LEINDEX_HOME=str(tmp_leindex_home))
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_leindex_home), str(corpus), str(HEADROOM_MB)],
        capture_output=True,
        text=True,
        env=env,
        timeout=280,
        cwd=Path(__file__).parents[2],
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    print(report)
    needle = "pkg07/ledger.py"
    assert report["indexed"] == FILES + 1 and report["pending_vectors"] == 0
    assert report["vector_chunks"] > FILES  # every file has vectors, several chunks each
    assert report["fulltext"] == [needle]
    assert needle in report["semantic"]
    assert report["granted"] > 0  # indexing batches went through the reserver
    assert report["peak_mb"] <= report["budget_mb"] * 1.02
