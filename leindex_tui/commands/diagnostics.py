"""`leindex diagnostics [--type memory|eviction|config|projects] [PATH ...]`.

Without PATHs it prints the `get_diagnostics` JSON of the instance running on LEINDEX_HOME
(asked over its control socket; a note on stderr names its pid). When none runs, or when PATHs
are given, the report is of a fresh engine built in this process: the PATHs are indexed first
(so `projects` and the memory breakdown describe them). That engine keeps its index files in a
temporary directory and neither takes the pidfile nor writes `cache_state.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from leindex_tui.commands.instance import ask_running_instance, describe_instance, fresh_engine

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
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="index these into a fresh in-process engine instead of asking the running one",
    )


def _path_error(paths: list[str]) -> str | None:
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            return f"{raw}: no such directory"
        if not path.is_dir():
            return f"{raw}: not a directory"
    return None


def _in_process_report(report_type: str, paths: list[str]) -> dict[str, Any]:
    from engine import api

    with fresh_engine(paths):
        return api.get_diagnostics(type=report_type)


def run(args: argparse.Namespace) -> int:
    """Print the report as JSON on stdout; 2 for bad input, 1 if the instance cannot answer."""
    from engine.api import ApiError
    from engine.control import ControlError

    paths = list(args.paths)
    error = _path_error(paths)
    report: dict[str, Any] | None = None
    if error is None and not paths:
        try:
            reply = ask_running_instance("diagnostics", type=args.type)
        except ControlError as unusable:
            sys.stderr.write(f"leindex diagnostics: error: {unusable}\n")
            return 1
        if reply is not None:
            sys.stderr.write(f"leindex diagnostics: from {describe_instance(reply)}\n")
            report = reply.result
    if error is None and report is None:
        try:
            report = _in_process_report(args.type, paths)
        except (ApiError, ValueError, OSError) as exc:
            error = str(exc)
    if error is not None:
        sys.stderr.write(f"leindex diagnostics: error: {error}\n")
        return 2
    json.dump(report, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0
