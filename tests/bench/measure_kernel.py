"""Hand measurements on a saved kernel index (docs/benchmarks.md, "Restart and index size").

Not collected by pytest (no `bench_` prefix); run with the repository's venv:

    python tests/bench/measure_kernel.py build HOME [TREE]   # first index, wall and CPU
    python tests/bench/measure_kernel.py parts HOME           # bytes of each index file
    python tests/bench/measure_kernel.py restart HOME [TREE] [RUNS]  # MCP spawn -> answer
    python tests/bench/measure_kernel.py cli HOME [TREE] [RUNS]      # leindex search timing

TREE defaults to the scale bench's kernel tree under ~/.cache/leindex-bench. `restart` is
the scale bench's restart phase alone: `leindex --headless TREE` over stdio, initialize, one
literal search; it prints spawn -> answer and the server's CPU seconds at the answer.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

QUERY = "kmalloc_array"
LEINDEX = str(Path(sys.executable).with_name("leindex"))


def _tree(args: list[str]) -> Path:
    if args:
        return Path(args[0])
    return next(t for t in sorted((Path.home() / ".cache" / "leindex-bench").glob("linux-*")))


def build(home: Path, tree: Path) -> None:
    os.environ["LEINDEX_HOME"] = str(home)
    os.environ["LEINDEX_MEMORY_TOTAL_BUDGET_MB"] = "512"
    from engine.index import Engine

    wall, cpu = time.perf_counter(), time.process_time()
    engine = Engine(home=home, watch_files=False)
    engine.add_project(tree)
    engine.close()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"first index: {wall:.1f} s wall, {cpu:.1f} s CPU")


def parts(home: Path) -> None:
    total = 0
    for index_dir in sorted((home / "indexes").iterdir()):
        for path in sorted(index_dir.iterdir()):
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            size = sum(p.stat().st_size for p in files)
            total += size
            print(f"{index_dir.name}/{path.name}: {size / 1e6:.1f} MB")
    print(f"total: {total / 1e6:.1f} MB")


def restart(home: Path, tree: Path, runs: int) -> None:
    import anyio
    import psutil
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    async def once() -> None:
        # PYTHONPATH passes through (the SDK gives the server only a few variables), so an
        # export of another commit can be measured the same way.
        env = {"LEINDEX_HOME": str(home)}
        if os.environ.get("PYTHONPATH"):
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        params = StdioServerParameters(command=LEINDEX, args=["--headless", str(tree)], env=env)
        spawned = time.perf_counter()
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("search", {"query": QUERY, "literal": True})
            answered = time.perf_counter() - spawned
            server = [c for c in psutil.Process().children() if "--headless" in c.cmdline()]
            cpu = sum(server[0].cpu_times()[:2]) if server else float("nan")
            count = json.loads(result.content[0].text)["count"]
        print(f"spawn -> answer {answered:.2f} s, server CPU {cpu:.2f} s, {count} hits")

    for _ in range(runs):
        anyio.run(once)


def cli(home: Path, tree: Path, runs: int) -> None:
    command = [LEINDEX, "search", QUERY, "--literal", "--limit", "3", "--project", str(tree)]
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "LEINDEX_HOME": str(home)},
        )
        assert process.stdout is not None
        process.stdout.readline()
        first = time.perf_counter() - started
        process.communicate()
        ended = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        print(f"first line {first:.2f} s, exit {ended:.2f} s, CPU {cpu:.2f} s")


if __name__ == "__main__":
    what, home, rest = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    if what == "build":
        build(home, _tree(rest))
    elif what == "parts":
        parts(home)
    elif what == "restart":
        restart(home, _tree(rest[:1]), int(rest[1]) if len(rest) > 1 else 3)
    elif what == "cli":
        cli(home, _tree(rest[:1]), int(rest[1]) if len(rest) > 1 else 3)
    else:
        raise SystemExit(__doc__)
