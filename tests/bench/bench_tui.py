"""Dashboard cost: CPU share of one core at the default refresh, and time to first full paint.

Run with `make bench` (or `.venv/bin/python -m pytest -s tests/bench/bench_tui.py -o
python_files='bench_*.py'`). Everything is measured in this run, on this machine, with the
real app over a real Runtime (real memory probe, monitoring at its default interval) indexing
this repository's `engine/` package, headless through Textual's pilot:

- first full paint: from constructing the app to the first frame in which the dashboard shows
  a memory reading in every pane (gauge, caps, breakdown, projects), target < 1 s;
- CPU: process CPU time (all threads: the app, monitoring, watchers) over 30 s of wall time
  once the first index is done and nothing else runs, as a share of one core, target < 3 %.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual.widgets import DataTable

from leindex_tui.app import DEFAULT_REFRESH_SECONDS, LeIndexApp
from leindex_tui.widgets.breakdown_tree import BreakdownTree
from leindex_tui.widgets.caps_gauge import CapsGauge
from leindex_tui.widgets.threshold_gauge import ThresholdGauge

REPO = Path(__file__).resolve().parents[2]
MEASURE_SECONDS = 30.0
TARGET_CPU_SHARE = 0.03
TARGET_FIRST_PAINT_SECONDS = 1.0


def fully_painted(app: LeIndexApp) -> bool:
    """Every pane of the dashboard holds a reading (not its waiting placeholder)."""
    screen = app.dashboard
    if not screen.is_mounted:
        return False
    try:
        return (
            screen.query_one(ThresholdGauge).reading is not None
            and screen.query_one(CapsGauge).reading is not None
            and bool(screen.query_one(BreakdownTree)._nodes_by_key)
            and screen.query_one("#projects", DataTable).row_count > 0
        )
    except Exception:  # noqa: BLE001 - panes still mounting
        return False


async def test_dashboard_cpu_share_and_first_paint(tmp_leindex_home: Path) -> None:
    from engine.runtime import Runtime

    launched = time.perf_counter()
    runtime = Runtime(home=tmp_leindex_home, paths=[REPO / "engine"])
    app = LeIndexApp(runtime=runtime)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            while not fully_painted(app):
                await pilot.pause(0.01)
            first_paint = time.perf_counter() - launched
            while not all(project.indexed for project in app.last_status.projects):
                await pilot.pause(0.1)
            await pilot.pause(2.0)  # let the indexing threads' tail settle

            cpu_before, wall_before = time.process_time(), time.perf_counter()
            await pilot.pause(MEASURE_SECONDS)
            cpu = time.process_time() - cpu_before
            wall = time.perf_counter() - wall_before
    finally:
        runtime.shutdown()

    share = cpu / wall
    print()
    print(f"dashboard bench (refresh every {DEFAULT_REFRESH_SECONDS:g} s, 120x36, headless)")
    print(f"  launch to first full paint: {first_paint * 1000:7.0f} ms   target < 1000 ms")
    print(
        f"  CPU over {wall:.1f} s: {cpu:.3f} s = {share * 100:.2f} % of one core"
        f"   target < {TARGET_CPU_SHARE * 100:.0f} %"
    )
    assert first_paint < 10 * TARGET_FIRST_PAINT_SECONDS, "first paint is an order of magnitude off"
