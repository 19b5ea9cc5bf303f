"""`leindex diagnostics [--type memory|eviction|config|projects] [PATH ...]`.

Prints the `get_diagnostics` JSON of an engine built in this process: the PATHs are indexed
first (so `projects` and the memory breakdown describe them), then the report is printed.

The engine keeps its index files in a temporary directory that is removed on exit, and it
neither takes the pidfile nor writes `cache_state.json`: the command never disturbs a
running `leindex` on the same LEINDEX_HOME (whose config it reads like any other instance).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

DIAGNOSTICS_TYPES = ("memory", "eviction", "config", "projects")


EXAMPLES = """\
examples:
  leindex diagnostics                          # memory report as JSON
  leindex diagnostics --type projects ~/src/app
  leindex diagnostics --type config
"""
"""Shown at the end of `leindex diagnostics --help`."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's options on its argparse sub-parser."""
    parser.add_argument(
        "--type",
        choices=DIAGNOSTICS_TYPES,
        default="memory",
        help="which report (default: memory)",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="project directories to index")


def _path_error(paths: list[str]) -> str | None:
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            return f"{raw}: no such directory"
        if not path.is_dir():
            return f"{raw}: not a directory"
    return None


def _report(report_type: str, paths: list[str], index_home: Path) -> dict[str, Any]:
    from engine import api
    from engine.index import Engine, set_engine
    from engine.memory import MemoryManager, set_memory_manager

    engine = Engine(home=index_home, watch_files=False)
    set_engine(engine)
    set_memory_manager(MemoryManager(engine=engine))
    try:
        for path in paths:
            api.index_project(path, wait=True)
        return api.get_diagnostics(type=report_type)
    finally:
        engine.close()
        # Forget the closed engine: a caller in the same process gets fresh defaults.
        set_memory_manager(None)
        set_engine(None)


def run(args: argparse.Namespace) -> int:
    """Print the report as JSON on stdout; bad input → one line on stderr and status 2."""
    paths = list(args.paths)
    error = _path_error(paths)
    if error is None:
        from engine.api import ApiError

        try:
            with tempfile.TemporaryDirectory(prefix="leindex-diagnostics-") as index_home:
                report = _report(args.type, paths, Path(index_home))
        except (ApiError, ValueError, OSError) as exc:
            error = str(exc)
    if error is not None:
        sys.stderr.write(f"leindex diagnostics: error: {error}\n")
        return 2
    json.dump(report, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0
