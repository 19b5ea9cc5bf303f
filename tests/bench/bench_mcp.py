"""Headless MCP server latency, measured through the SDK's stdio client.

Run with `make bench` (or `.venv/bin/python -m pytest -s tests/bench/bench_mcp.py -o
python_files='bench_*.py'`). One `leindex --headless engine/` process (this repository's
engine folder as the project) with a throw-away LEINDEX_HOME; every figure is wall-clock
time seen by the client in this run on this machine, round trip over the pipes included:

- spawn → `initialize` answered; first `search` (waits for the first index of engine/);
- 100 × `get_diagnostics(type="memory")` and 100 × `search` (median and p95);
- closing stdin → the process has exited (graceful shutdown, state saved).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

REPO_ROOT = Path(__file__).resolve().parents[2]
CALLS = 100


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


async def _measure(home: Path) -> dict[str, str]:
    params = StdioServerParameters(
        command=str(Path(sys.executable).with_name("leindex")),
        args=["--headless", str(REPO_ROOT / "engine")],
        env={"LEINDEX_HOME": str(home)},
        cwd=str(REPO_ROOT),
    )
    results: dict[str, str] = {}
    started = time.perf_counter()
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        initialized = time.perf_counter()
        first = await session.call_tool("search", {"query": "atomic", "wait_timeout_seconds": 60})
        assert not first.is_error, first.content
        searched = time.perf_counter()
        diagnostics, searches = [], []
        for _ in range(CALLS):
            before = time.perf_counter()
            await session.call_tool("get_diagnostics", {"type": "memory"})
            diagnostics.append(time.perf_counter() - before)
        for n in range(CALLS):
            before = time.perf_counter()
            await session.call_tool("search", {"query": f"config{n % 7}", "literal": True})
            searches.append(time.perf_counter() - before)
        closing = time.perf_counter()
    exited = time.perf_counter()
    results["spawn → initialized"] = f"{initialized - started:.2f} s"
    results["first search (waits for the index)"] = f"{searched - initialized:.2f} s"
    results['get_diagnostics(type="memory")'] = _ms(diagnostics)
    results["search (fulltext, literal)"] = _ms(searches)
    results["stdin closed → process exited"] = f"{exited - closing:.2f} s"
    return results


def test_mcp_round_trips(tmp_path: Path) -> None:
    results = anyio.run(_measure, tmp_path / "home")

    print("\nheadless MCP server over stdio (client-side wall clock):")
    for name, value in results.items():
        print(f"  {name:<36} {value}")
    assert (tmp_path / "home" / "cache_state.json").exists()
