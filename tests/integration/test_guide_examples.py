"""Every Python example of the guide runs against engine.memory, and prints sensible values.

The examples are read from the guide itself (a copy lives in tests/integration/guide/ so a
clean clone has it); `leindex.` becomes `engine.`, and only the helpers the guide leaves
undefined (get_large_cached_object, trigger_cleanup, simulate_workload, schedule, ...) are
supplied here. time.sleep is patched so the snapshot loop runs at once.
"""

from __future__ import annotations

import re
import sys
import time
import types
from pathlib import Path

import pytest

from engine.index import Engine, set_engine
from engine.memory import EvictionManager, ProjectPriority, set_memory_manager

HERE = Path(__file__).parent
GUIDE_COPY = HERE / "guide" / "MEMORY_MANAGEMENT_GUIDE.md"
GUIDE_SEED = HERE.parents[1] / ".." / "shared" / "seed" / "MEMORY_MANAGEMENT_GUIDE.md"
SECTIONS = ("Architecture", "Usage", "Graceful Shutdown", "Best Practices", "Troubleshooting")
NUMBER = r"(-?\d+(?:\.\d+)?)"


def guide_examples() -> dict[str, str]:
    """Python blocks that use leindex.memory, by "<h2> / <h3> / <h4> #n"."""
    examples: dict[str, str] = {}
    headings = ["", "", ""]
    text = GUIDE_COPY.read_text()
    for match in re.finditer(r"^(#{2,4}) ([^\n]+)$|^```python\n(.*?)^```", text, re.M | re.S):
        if match.group(1):
            level = len(match.group(1)) - 2
            headings[level] = match.group(2).strip()
            headings[level + 1 :] = [""] * (2 - level)
            continue
        code = match.group(3)
        if headings[0] not in SECTIONS or "leindex.memory" not in code:
            continue
        name = " / ".join(h for h in headings if h)
        while name in examples:
            name += "+"
        examples[name] = code.replace("leindex.", "engine.")
    return examples


EXAMPLES = guide_examples()


def test_the_copy_of_the_guide_is_current():
    if not GUIDE_SEED.exists():
        pytest.skip("the seed guide is not beside this checkout (CI): the copy is used")
    assert GUIDE_COPY.read_text() == GUIDE_SEED.read_text()


def test_every_section_has_examples():
    found = {name.split(" / ")[0] for name in EXAMPLES}
    assert found == set(SECTIONS)
    assert len(EXAMPLES) >= 14


@pytest.fixture
def live_engine(tmp_path, tmp_leindex_home, monkeypatch):
    """A default engine with one indexed project and warm caches, as a running app has."""
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    for n in range(8):
        (root / f"m{n}.py").write_text(f"def handler_{n}(request):\n    return {n}\n" * 30)
    for n in range(2):  # large files read through the cache but kept out of the index
        (root / "data" / f"blob{n}.txt").write_text(f"line {n}\n" * 100_000)
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    project = engine.add_project(root, priority=ProjectPriority.LOW, exclude=("data/",))
    for n in range(8):
        project.read_file(f"m{n}.py")
        engine.search(f"handler_{n}")
    for n in range(2):
        project.read_file(f"data/blob{n}.txt")
    set_engine(engine)
    set_memory_manager(None)
    EvictionManager().clear_history()
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    yield engine
    set_memory_manager(None)
    set_engine(None)
    engine.close()
    EvictionManager().clear_history()


def _helpers(calls: list[str]) -> dict:
    def record(name):
        def helper(*args, **kwargs):
            calls.append(name)

        return helper

    schedule = types.ModuleType("schedule")

    class _Every:
        def __init__(self, n):
            self.n = n

        @property
        def minutes(self):
            return self

        def do(self, job):
            calls.append(f"scheduled every {self.n} min")
            job()

    schedule.every = _Every
    from engine.memory import MemoryManager

    return {
        "time": time,
        "get_large_cached_object": lambda: {"rows": [[i, f"value {i}"] for i in range(50_000)]},
        "get_cached_queries": lambda: ["query one", "query two"],
        "cached_queries": ["query one", "query two"],
        "trigger_cleanup": record("trigger_cleanup"),
        "spill_to_disk": record("spill_to_disk"),
        "emergency_eviction": record("emergency_eviction"),
        "simulate_workload": record("simulate_workload"),
        "manager": MemoryManager(),
        "_schedule_module": schedule,
    }


def _run(name: str, capsys, monkeypatch) -> tuple[str, list[str], dict]:
    calls: list[str] = []
    namespace = _helpers(calls)
    monkeypatch.setitem(sys.modules, "schedule", namespace.pop("_schedule_module"))
    exec(compile(EXAMPLES[name], f"<guide: {name}>", "exec"), namespace)
    return capsys.readouterr().out, calls, namespace


def _values(pattern: str, out: str) -> list[float]:
    return [float(v) for v in re.findall(pattern, out)]


def _example(fragment: str) -> str:
    [name] = [n for n in EXAMPLES if fragment in n]
    return name


def test_memory_tracker(live_engine, capsys, monkeypatch):
    out, _, _ = _run(_example("Memory Tracker"), capsys, monkeypatch)
    [current] = _values(rf"Current memory: {NUMBER} MB", out)
    [peak] = _values(rf"Peak memory: {NUMBER} MB", out)
    [average] = _values(rf"Average memory: {NUMBER} MB", out)
    assert 10 < current <= peak and 0 < average <= peak
    assert "Memory budget exceeded!" not in out


def test_threshold_checker(live_engine, capsys, monkeypatch):
    out, calls, _ = _run(_example("Threshold Checker"), capsys, monkeypatch)
    assert "Level: SOFT" in out and "Message: Memory usage 2500.0 MB" in out
    assert "Action: Trigger cleanup" in out
    assert calls == ["trigger_cleanup"]


def test_action_queue(live_engine, capsys, monkeypatch):
    out, _, _ = _run(_example("Action Queue"), capsys, monkeypatch)
    assert out.splitlines()[:2] == ["SPILL_TO_DISK: completed", "CLEANUP: completed"]
    assert "Error" not in out


def test_eviction_manager(live_engine, capsys, monkeypatch):
    out, _, _ = _run(_example("Eviction Manager"), capsys, monkeypatch)
    [evicted] = _values(rf"Evicted: {NUMBER} MB", out)
    assert evicted > 0
    assert "Projects affected: 1" in out and "  - project" in out


def test_basic_memory_monitoring(live_engine, capsys, monkeypatch):
    out, _, _ = _run(_example("Basic Memory Monitoring"), capsys, monkeypatch)
    [current] = _values(rf"Current: {NUMBER} MB", out)
    [peak] = _values(rf"Peak: {NUMBER} MB", out)
    [heap] = _values(rf"Heap: {NUMBER} MB", out)
    assert 0 < heap < current <= peak
    assert "Loaded Files: 10" in out and "Cached Queries: 8" in out
    assert "Soft Limit Exceeded: False" in out and "Hard Limit Exceeded: False" in out


def test_memory_breakdown(live_engine, capsys, monkeypatch):
    out, _, _ = _run(_example("Usage / Python API / Memory Breakdown"), capsys, monkeypatch)
    fields = {
        key: float(value) for key, value in re.findall(rf"^([A-Za-z ]+): {NUMBER} MB$", out, re.M)
    }
    assert fields["Total"] == fields["Process RSS"] > fields["Heap"] > 0
    assert fields["Loaded Content"] > 0 and fields["Query Cache"] >= 0
    assert fields["Indexes"] > 0
    parts = fields["Loaded Content"] + fields["Query Cache"] + fields["Indexes"] + fields["Other"]
    assert parts == pytest.approx(fields["Heap"], abs=0.3)  # the guide's example adds up so


def test_threshold_checking(live_engine, capsys, monkeypatch):
    out, _, namespace = _run(
        _example("Usage / Python API / Threshold Checking"), capsys, monkeypatch
    )
    assert "SOFT: Memory usage 2800.0 MB" in out and "Action: Trigger cleanup" in out
    assert live_engine.registry.get("project").loaded_files.__len__() == 5  # cleanup ran


def test_continuous_monitoring(live_engine, capsys, monkeypatch):
    out, _, namespace = _run(_example("Continuous Monitoring"), capsys, monkeypatch)
    manager = namespace["manager"]
    assert len(manager.limit_exceeded_callbacks) == 3
    assert not manager.monitoring  # stopped at the end of the example


def test_manual_cleanup(live_engine, capsys, monkeypatch):
    out, _, namespace = _run(_example("Manual Cleanup"), capsys, monkeypatch)
    assert out.splitlines() == [
        "Cleanup completed successfully",
        "Data spilled to disk",
        "Data loaded from disk",
    ]
    assert namespace["loaded_data"] == namespace["data"]


def test_graceful_shutdown_and_restore(live_engine, capsys, monkeypatch, tmp_leindex_home):
    for name in [n for n in EXAMPLES if n.startswith("Graceful Shutdown")]:
        _run(name, capsys, monkeypatch)
    assert (tmp_leindex_home / "cache_state.json").exists()


def test_monitor_memory_usage_regularly(live_engine, capsys, monkeypatch, caplog):
    caplog.set_level("INFO")
    _, calls, namespace = _run(_example("Monitor Memory Usage Regularly"), capsys, monkeypatch)
    assert calls == ["scheduled every 5 min"]
    assert re.search(r"Memory: \d+\.\d MB \(Peak: \d+\.\d MB\)", caplog.text)
    namespace["manager"].stop_monitoring()


def test_test_memory_limits_before_deployment(live_engine, capsys, monkeypatch):
    _, calls, namespace = _run(_example("Test Memory Limits"), capsys, monkeypatch)
    assert calls == ["simulate_workload"] * 4
    assert namespace["manager"].limits.soft_mb == int(8192 * 0.8)


def test_memory_leaks_diagnosis(live_engine, capsys, monkeypatch):
    out, _, namespace = _run(_example("Memory Leaks"), capsys, monkeypatch)
    growth = _values(rf"Interval \d+: {NUMBER} MB growth", out)
    assert len(growth) == 9 and all(abs(g) < 50 for g in growth)
    assert len(namespace["snapshots"]) == 10


def test_high_rss_vs_heap(live_engine, capsys, monkeypatch):
    out, _, _ = _run(_example("High RSS vs Heap"), capsys, monkeypatch)
    [ratio] = _values(rf"RSS/Heap ratio: {NUMBER}", out)
    assert 1.0 < ratio < 10.0


def test_frequent_evictions(live_engine, capsys, monkeypatch):
    from engine.memory import emergency_eviction

    emergency_eviction(target_mb=1)
    out, _, _ = _run(_example("Frequent Evictions"), capsys, monkeypatch)
    assert re.search(r"Timestamp: \d+\.\d+", out)
    [evicted] = _values(rf"Evicted: {NUMBER} items", out)
    [candidates] = _values(rf"Candidates: {NUMBER} items", out)
    assert evicted > 0 and candidates == 1


def test_slow_spill_to_disk(live_engine, capsys, monkeypatch):
    out, _, namespace = _run(_example("Slow Spill-to-Disk"), capsys, monkeypatch)
    [duration] = _values(rf"Spill duration: {NUMBER} seconds", out)
    assert 0 <= duration < 5.0
    assert namespace["success"] is True
    assert "Warning: Spill is slow" not in out
