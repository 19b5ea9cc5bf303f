"""Scale bench (partial): index a real code base, report MB/s, vector bytes per chunk, index
files on disk against the source, and peak RSS.

Run with `make bench` (or `python tests/bench/bench_scale.py [DIR]`). The corpus is the
running interpreter's standard library unless `LEINDEX_SCALE_CORPUS` names a directory (for
example an unpacked Debian source package under ~/.cache/leindex-bench). It runs the index in
a child process so the peak RSS (ru_maxrss) is this index's alone; the child also samples its
RSS plus its indexing workers' every 50 ms. Every figure printed is
measured, except the hnswlib graph which is named "estimated" when present.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, threading, time
from pathlib import Path
from engine import procfs
from engine.index import Engine
from engine.memory.probe import worker_processes_rss_bytes
corpus, home = Path(sys.argv[1]), Path(sys.argv[2])
engine = Engine(home=home, watch_files=False)
peak = [0]
stop = threading.Event()
def sample():  # this process and its indexing workers, every 50 ms
    while not stop.wait(0.05):
        peak[0] = max(peak[0], procfs.statm_rss_bytes() + worker_processes_rss_bytes())
threading.Thread(target=sample, daemon=True).start()
started = time.perf_counter()
project = engine.add_project(corpus, exclude=("test/", "tests/", "idlelib/"))
seconds = time.perf_counter() - started
stop.set()
source = project.progress.bytes_done
t0 = time.perf_counter()
engine.search("open a socket connection", mode="semantic")
first_semantic = time.perf_counter() - t0
vectors = project.vectors
index_disk = sum(p.stat().st_size for p in project.index_dir.rglob("*") if p.is_file())
vec_disk = sum(p.stat().st_size for p in project.index_dir.glob("vectors.*") if p.is_file())
print(json.dumps({
    "files": len(project.manifest.files), "source_bytes": source, "seconds": seconds,
    "chunks": len(vectors), "vector_bytes": vectors.memory_bytes(),
    "vector_bytes_estimated": vectors.memory_bytes_estimated,
    "index_disk_bytes": index_disk, "vector_disk_bytes": vec_disk,
    "first_semantic_s": first_semantic,
    "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "peak_with_workers_bytes": peak[0],
}))
engine.close()
"""


def run(corpus: Path) -> dict:
    with tempfile.TemporaryDirectory() as home:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(corpus), home],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "LEINDEX_HOME": home},
        ).stdout
    return json.loads(out.strip().splitlines()[-1])


def report(result: dict) -> str:
    mb = result["source_bytes"] / 1e6
    lines = [
        f"corpus: {result['files']} files, {mb:.1f} MB of source",
        f"index (full-text + semantic): {mb / result['seconds']:.2f} MB/s "
        f"({result['seconds']:.1f} s)",
        f"chunks: {result['chunks']}, vector index resident"
        f"{' (estimated)' if result['vector_bytes_estimated'] else ' (measured nbytes)'}: "
        f"{result['vector_bytes'] / 1e6:.1f} MB = "
        f"{result['vector_bytes'] / max(1, result['chunks']):.0f} B/chunk",
        f"index files on disk: {result['index_disk_bytes'] / 1e6:.1f} MB = "
        f"{result['index_disk_bytes'] / max(1, result['source_bytes']):.2f}x source "
        f"(vectors {result['vector_disk_bytes'] / 1e6:.1f} MB)",
        f"first semantic query after indexing: {result['first_semantic_s'] * 1000:.0f} ms",
        f"peak RSS: {result['peak_rss_bytes'] / 2**20:.0f} MB (this process, ru_maxrss); "
        f"with its indexing workers: {result['peak_with_workers_bytes'] / 2**20:.0f} MB "
        "(sampled every 50 ms)",
    ]
    return "\n".join(lines)


def corpus_dir() -> Path:
    return Path(os.environ.get("LEINDEX_SCALE_CORPUS") or sysconfig.get_paths()["stdlib"])


def test_scale_bench():
    print("\n" + report(run(corpus_dir())))


if __name__ == "__main__":
    print(report(run(Path(sys.argv[1]) if len(sys.argv) > 1 else corpus_dir())))
