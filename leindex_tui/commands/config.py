"""`leindex config validate|show`: check the config files, or print the merged config."""

from __future__ import annotations

import argparse
import sys

from engine.config import (
    ConfigError,
    is_valid_project_name,
    leindex_home,
    load_config,
    render_annotated_yaml,
)

EXAMPLES = """\
examples:
  leindex config validate               # check config.yaml, projects/*.yaml, LEINDEX_MEMORY_*
  leindex config show                   # the merged config, each value with its source
  leindex config show --project myapp   # plus one project's settings
"""
"""Shown at the end of `leindex config --help`."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`validate` and `show [--project NAME]`."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="{validate,show}")
    actions.add_parser(
        "validate",
        help="check config.yaml, projects/*.yaml and LEINDEX_MEMORY_* (exit 2 on an error)",
        description="Check config.yaml, projects/*.yaml and the LEINDEX_MEMORY_* variables.",
    )
    show = actions.add_parser(
        "show",
        help="print the merged config, each value annotated with its source",
        description="Print the merged config as YAML; a comment after each value says where "
        "it came from (default, global file, project file, env).",
    )
    show.add_argument("--project", metavar="NAME", help="also show this project's settings")


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; 0 ok, 2 if the config (or the project name) is invalid."""
    project = getattr(args, "project", None)
    if project is not None and not is_valid_project_name(project):
        sys.stderr.write(f"leindex config show: error: {project!r} is not a valid project name\n")
        return 2
    try:
        loaded = load_config()
    except ConfigError as error:
        sys.stderr.write(f"leindex config: error: {error}\n")
        return 2
    for warning in loaded.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    if args.action == "validate":
        if loaded.files:
            print(f"OK ({', '.join(str(path) for path in loaded.files)})")
        else:
            print(f"OK (no config files under {leindex_home()}; built-in defaults)")
        return 0
    sys.stdout.write(render_annotated_yaml(loaded, project=args.project))
    return 0
