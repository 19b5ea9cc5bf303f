"""`leindex status [--json]`: budget, RSS, level, caches and projects of the running instance.

Asked over the control socket; when no instance runs on LEINDEX_HOME it says so on stderr and
describes a fresh in-process engine instead (no projects, this process's RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from leindex_tui.commands.instance import ask_running_instance, fresh_engine

EXAMPLES = """\
examples:
  leindex status                               # the running dashboard or server, in brief
  leindex status --json                        # the same summary as JSON
"""
"""Shown at the end of `leindex status --help`."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--json` prints the summary as JSON instead of text."""
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def render_summary(summary: dict[str, Any], pid: int, face: str, home: str) -> str:
    """The summary as a few short lines of text."""
    budget = float(summary["budget_mb"])
    rss = float(summary["rss_mb"])
    share = f" ({rss / budget:.0%})" if budget > 0 else ""
    lines = [
        f"leindex pid {pid} ({face}) on {home}",
        f"memory: RSS {rss:.1f} MB of {budget:g} MB budget{share}, level {summary['level']}"
        f" (soft {float(summary['soft_limit_mb']):.0f} MB, hard "
        f"{float(summary['hard_limit_mb']):.0f} MB)",
        f"caches: {summary['loaded_files']} loaded files, "
        f"{summary['cached_queries']} cached queries",
    ]
    projects = summary["projects"]
    if projects:
        lines.append(f"projects ({len(projects)}):")
        for project in projects:
            state = "indexed" if project["indexed"] else "indexing"
            lines.append(
                f"  {project['name']}: {project['files_total']} files, {state}, "
                f"{project['loaded_files']} loaded, {project['priority']}  ({project['path']})"
            )
    else:
        lines.append("projects: none")
    if summary.get("config_error"):
        stays = "running on defaults" if summary.get("config_on_defaults") else "kept the last good"
        lines.append(f"config: {stays}: {summary['config_error']}")
    else:
        lines.append("config: OK")
    lines.extend(f"config warning: {warning}" for warning in summary.get("config_warnings", ()))
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Print the summary; 1 if an instance runs but cannot answer."""
    from engine import control
    from engine.config import leindex_home

    try:
        reply = ask_running_instance("status")
    except control.ControlError as unusable:
        sys.stderr.write(f"leindex status: error: {unusable}\n")
        return 1
    if reply is not None:
        summary, pid, face, home = reply.result, reply.pid, reply.face, reply.home
    else:
        with fresh_engine():
            summary = control.status_summary()
        pid, face, home = os.getpid(), "in-process", str(leindex_home())
    if args.json:
        json.dump({"pid": pid, "face": face, "home": home, **summary}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_summary(summary, pid, face, home))
    return 0
