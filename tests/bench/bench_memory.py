"""Memory-management benchmarks, printed beside the guide's "Performance Characteristics".

Run with `make bench` (or `.venv/bin/python -m pytest -s tests/bench/bench_memory.py -o
python_files='bench_*.py'`). Every figure is measured in this run on this machine:

- monitoring CPU: the process CPU time of a real monitoring thread over a wall-clock
  window, divided by the window (nothing else runs); also the CPU cost of one tick.
- cleanup / eviction: a real engine project holding 200 MB or 1 GB of loaded file contents;
  time of the call and RSS before minus after (statm), measured.
- spill throughput: spilling N MB vs a raw sequential write (+fsync) of the same bytes to
  the same directory, in the same run; and spilling a cache vs a raw write (no fsync, as
  cache spills are not fsync'd) of as many bytes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine import procfs
from engine.memory import MemoryManager, ProjectPriority

MB = 1024 * 1024
RESULTS: dict[str, str] = {}


def rss_mb() -> float:
    return procfs.statm_rss_bytes() / MB


@pytest.fixture
def big_caps(monkeypatch):
    # The engine's own caps must not stop the fill: the bench measures the memory manager.
    monkeypatch.setenv("LEINDEX_MEMORY_TOTAL_BUDGET_MB", "100000")
    monkeypatch.setenv("LEINDEX_MEMORY_MAX_LOADED_FILES", "100000")
    monkeypatch.setenv("LEINDEX_MEMORY_PROJECT_DEFAULTS_MAX_LOADED_FILES", "100000")
    monkeypatch.setenv("LEINDEX_MEMORY_SPILL_MAX_SPILL_SIZE_MB", "4000")


@pytest.fixture
def engine(tmp_path, tmp_leindex_home, big_caps):
    from engine.index import Engine

    root = tmp_path / "project"
    root.mkdir()
    (root / "a.py").write_text("def a():\n    return 1\n")
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    engine.add_project(root, priority=ProjectPriority.LOW)
    yield engine
    engine.close()


def fill(project, megabytes: int) -> None:
    """Put `megabytes` of distinct 1 MB strings into the project's loaded-files cache."""
    base = "x" * (MB - 16)
    for i in range(megabytes):
        project.loaded_files.put(f"blob/{i:05d}.txt", f"{i:015d}\n" + base)


def test_monitoring_cpu_overhead(engine):
    manager = MemoryManager(engine=engine)
    manager.monitor.auto_enforce = False
    # Cost of one tick, over many ticks.
    ticks = 20_000
    cpu = time.process_time()
    for _ in range(ticks):
        manager.monitor.tick()
    per_tick = (time.process_time() - cpu) / ticks
    # A real monitoring thread at 1 s for 10 s of wall time (the process is otherwise idle).
    window = 10.0
    manager.start_monitoring(interval=1.0)
    cpu = time.process_time()
    time.sleep(window)
    measured_1s = (time.process_time() - cpu) / window
    manager.stop_monitoring()
    for interval in (1.0, 10.0, 30.0, 60.0):
        RESULTS[f"monitor {interval:g}s"] = f"{per_tick / interval * 100:.4f}% (per-tick model)"
    RESULTS["monitor 1s measured"] = f"{measured_1s * 100:.4f}% of one core over {window:g} s"
    RESULTS["tick cost"] = f"{per_tick * 1e6:.1f} us"
    print(f"\nmonitoring: one tick costs {per_tick * 1e6:.1f} us of CPU")
    print(f"monitoring at 1 s, measured over {window:g} s: {measured_1s * 100:.4f}% of one core")
    assert per_tick / 1.0 <= 0.001  # target: <= 0.1% of one core at 1 s


@pytest.mark.parametrize("megabytes", [200, 1024])
def test_cleanup_and_emergency_eviction(engine, megabytes):
    project = engine.registry.get("project")
    manager = MemoryManager(engine=engine)
    manager.collect_garbage()
    base = rss_mb()
    fill(project, megabytes)
    filled = rss_mb()
    cleanup = manager.cleanup_detailed()
    after_cleanup = rss_mb()
    fill(project, megabytes)  # back to full before evicting
    refilled = rss_mb()
    eviction = manager.evict(megabytes, ProjectPriority.LOW, trigger="api")
    after_evict = rss_mb()
    RESULTS[f"cleanup {megabytes}"] = (
        f"{cleanup.duration_seconds:.3f} s, RSS -{filled - after_cleanup:.0f} MB "
        f"(drops the older half)"
    )
    RESULTS[f"evict {megabytes}"] = (
        f"{eviction.duration_seconds:.3f} s, RSS -{refilled - after_evict:.0f} MB"
    )
    print(
        f"\n{megabytes} MB cached (RSS {base:.0f} -> {filled:.0f} MB): "
        f"cleanup {cleanup.duration_seconds:.3f} s freed {filled - after_cleanup:.0f} MB "
        f"(reported {cleanup.freed_mb:.0f}); emergency eviction "
        f"{eviction.duration_seconds:.3f} s freed {refilled - after_evict:.0f} MB "
        f"(reported {eviction.freed_mb:.0f}, accounted {eviction.evicted_count_mb:.0f})"
    )
    assert refilled - after_evict >= megabytes * 0.95
    if megabytes >= 1024:
        assert eviction.duration_seconds < 0.5


def _raw_write(path: Path, data, fsync: bool) -> float:
    start = time.perf_counter()
    with open(path, "wb", buffering=0) as handle:
        view = memoryview(data)
        while view:
            view = view[handle.write(view) :]
        if fsync:
            os.fsync(handle.fileno())
    elapsed = time.perf_counter() - start
    path.unlink()
    return elapsed


def test_spill_throughput(engine, tmp_leindex_home):
    manager = MemoryManager(engine=engine)
    directory = manager.spill_store().directory
    directory.mkdir(parents=True, exist_ok=True)
    payload = os.urandom(MB) * 256
    ratios = []
    for attempt in range(5):
        # Alternate which goes first, and flush dirty pages before each, so neither pays
        # for the other's writeback.
        timings = {}
        for which in ("raw", "spill") if attempt % 2 == 0 else ("spill", "raw"):
            os.sync()
            if which == "raw":
                timings["raw"] = _raw_write(directory / "raw.bin", payload, fsync=True)
            else:
                start = time.perf_counter()
                assert manager.spill_to_disk(f"bench-{attempt}", payload)
                timings["spill"] = time.perf_counter() - start
                manager.spill_store().remove(f"bench-{attempt}")
        raw, spill = timings["raw"], timings["spill"]
        ratios.append(raw / spill)
        print(
            f"\nspill 256 MB bytes: {spill:.3f} s ({256 / spill:.0f} MB/s); raw write+fsync "
            f"{raw:.3f} s ({256 / raw:.0f} MB/s); throughput ratio {raw / spill:.2f}"
        )
    median = sorted(ratios)[len(ratios) // 2]
    RESULTS["spill bytes"] = (
        f"ratio {median:.2f} of raw write+fsync (median of 5; "
        f"{', '.join(f'{r:.2f}' for r in ratios)})"
    )

    project = engine.registry.get("project")
    fill(project, 256)
    os.sync()
    result = manager.spill_caches()
    os.sync()
    raw = _raw_write(directory / "raw.bin", os.urandom(MB) * 256, fsync=False)
    cache_ratio = (result.bytes_written / MB / result.duration_seconds) / (256 / raw)
    RESULTS["spill cache"] = (
        f"{result.entries_spilled} entries, {result.bytes_written / MB:.0f} MB in "
        f"{result.duration_seconds:.3f} s; ratio {cache_ratio:.2f} of a raw write (no fsync)"
    )
    print(f"cache spill: {RESULTS['spill cache']}")
    load = os.getloadavg()[0]
    verdict = "met" if median >= 0.7 else "NOT met"
    RESULTS["spill bytes"] += (
        f"; target 0.7 {verdict} (load average {load:.1f}, {os.cpu_count()} CPUs)"
    )
    # Not asserted: the MAC's CPU cost hides behind the write only when a core is free, so
    # the ratio depends on what else the machine runs; the verdict and the load are printed.


def test_print_table():
    rows = [
        ("Monitoring CPU at 10s interval", "~2%", RESULTS.get("monitor 10s", "-")),
        ("Monitoring CPU at 30s interval", "~1%", RESULTS.get("monitor 30s", "-")),
        ("Monitoring CPU at 60s interval", "~0.5%", RESULTS.get("monitor 60s", "-")),
        ("Monitoring CPU at 1s interval", "(not given)", RESULTS.get("monitor 1s", "-")),
        ("  measured with a real thread", "", RESULTS.get("monitor 1s measured", "-")),
        ("Cache eviction (cleanup), 200 MB", "0.5-2s, 200-500 MB", RESULTS.get("cleanup 200")),
        ("Cache eviction (cleanup), 1 GB", "0.5-2s, 200-500 MB", RESULTS.get("cleanup 1024")),
        ("Emergency eviction, 200 MB", "2-10s, 1000-2000 MB", RESULTS.get("evict 200")),
        ("Emergency eviction, 1 GB", "2-10s, 1000-2000 MB", RESULTS.get("evict 1024")),
        ("Spill to disk (256 MB bytes)", "1-5s, 500-1000 MB", RESULTS.get("spill bytes")),
        ("Spill to disk (256 MB cache)", "1-5s, 500-1000 MB", RESULTS.get("spill cache")),
    ]
    print("\n\n| Operation | Guide | Measured here |\n|---|---|---|")
    for name, guide, measured in rows:
        print(f"| {name} | {guide} | {measured or '-'} |")
