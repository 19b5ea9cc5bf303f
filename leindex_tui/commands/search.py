"""`leindex search QUERY [--mode M] [--project P] [--limit N] [--literal]`.

Searches the current directory's project (or `--project`, a directory or the name of a project
indexed before), indexing it first with a progress bar on stderr; the index stays on disk under
LEINDEX_HOME, so the next run only re-indexes what changed. A project of 10,000 files or more
is answered from its saved index while that is brought up to date (a note on stderr says when
files had changed); the command exits once it is. Prints `path:line: text` lines as
ripgrep does. Exit status: 0 matches, 1 no match, 2 bad query or arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

# A project of at least this many files answers from its saved index while it is brought up
# to date (a note says when files had changed); a smaller one is synced first.
ANSWER_BEFORE_SYNC_FILES = 10_000
EXIT_MATCH = 0
EXIT_NO_MATCH = 1
EXIT_USAGE = 2
_BAR_WIDTH = 30


EXAMPLES = """\
examples:
  leindex search parse_config                     # full-text search of the current directory
  leindex search "cache AND evict" --limit 5      # tantivy query syntax
  leindex search "std::vector<int>" --literal --project ~/src/app
  leindex search "read the config file" --mode semantic
"""
"""Shown at the end of `leindex search --help`."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's options on its argparse sub-parser."""
    parser.add_argument(
        "query", metavar="QUERY", help="tantivy query syntax, or text with --literal"
    )
    parser.add_argument(
        "--mode",
        choices=("fulltext", "semantic", "hybrid"),
        default="fulltext",
        help="fulltext (default), semantic or hybrid",
    )
    parser.add_argument(
        "--project",
        metavar="P",
        help="a project directory, or the name of a project indexed before (default: .)",
    )
    parser.add_argument("--limit", type=_positive_int, default=20, help="most hits (default 20)")
    parser.add_argument(
        "--literal", action="store_true", help="match QUERY as plain text, not query syntax"
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"must be from 1 to 10000: {value}")
    return value


def resolve_project_dir(project: str | None) -> Path | None:
    """The directory to search: `project` as a path, or a known project's, or the cwd."""
    if project is None:
        return Path.cwd()
    candidate = Path(project).expanduser()
    if candidate.is_dir():
        return candidate
    from engine.atomic import safe_child
    from engine.config import leindex_home
    from engine.index.registry import PROJECT_FILE

    try:
        record = safe_child(leindex_home() / "indexes", project) / PROJECT_FILE
        path = json.loads(record.read_text(encoding="utf-8")).get("path")
    except (ValueError, OSError, AttributeError):
        return None
    return Path(path) if isinstance(path, str) and Path(path).is_dir() else None


class _ProgressBar:
    """A one-line bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.shown = False

    def __call__(self, progress: Any) -> None:
        if not self.enabled or progress.phase != "indexing" or not progress.files_total:
            return
        fraction = progress.files_done / progress.files_total
        filled = int(fraction * _BAR_WIDTH)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        megabytes = progress.bytes_done / (1024 * 1024)
        sys.stderr.write(
            f"\rindexing [{bar}] {progress.files_done}/{progress.files_total} files "
            f"{megabytes:.1f} MB"
        )
        sys.stderr.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _wait_until(event: Any, project: Any) -> None:
    """Wait for a project's event; raise ApiError if its indexing fails first."""
    while not event.wait(0.05):
        if project.progress.phase == "error":
            from engine import api

            raise api.ApiError(f"{project.path}: cannot index: {project.progress.error}")


def _display_path(root: Path, rel: str) -> str:
    absolute = root / rel
    try:
        return os.path.relpath(absolute) if absolute.is_relative_to(Path.cwd()) else str(absolute)
    except ValueError:
        return str(absolute)


def run(args: argparse.Namespace) -> int:
    """Index (or refresh) the project, search it and print the hits."""
    from engine import api
    from engine.index import Engine, set_engine

    directory = resolve_project_dir(args.project)
    if directory is None:
        sys.stderr.write(f"leindex search: error: no such project or directory: {args.project}\n")
        return EXIT_USAGE
    engine = Engine(watch_files=False)
    set_engine(engine)
    bar = _ProgressBar()
    try:
        try:
            indexed = api.index_project(str(directory), wait=False, on_progress=bar)
            project = engine.registry.get(indexed["project"]["name"])
            # A first index is waited for, however long. A saved index is brought up to date
            # first when that is quick; a big one answers at once while it is (the walk of
            # the kernel's 78k files alone is 1.6 s of CPU).
            _wait_until(project.servable, project)
            manifest = project.manifest
            if manifest is None or len(manifest.files) < ANSWER_BEFORE_SYNC_FILES:
                _wait_until(project.ready, project)
        finally:
            bar.finish()
        root = project.path
        generation = project.generation
        try:
            result = api.search(
                args.query,
                mode=args.mode,
                project=project.name,
                limit=args.limit,
                literal=args.literal,
            )
        except api.ApiError as error:
            sys.stderr.write(f"leindex search: error: {error}\n")
            return EXIT_USAGE
        for hit in result["hits"]:
            sys.stdout.write(f"{_display_path(root, hit['path'])}:{hit['line']}: {hit['text']}\n")
        sys.stdout.flush()
        # Finished before exiting, so the next run starts from an index that is up to date.
        _wait_until(project.ready, project)
        if project.generation != generation:
            sys.stderr.write(
                f"leindex search: files of {project.name} changed since its last index; "
                "it is up to date now: search again to see them\n"
            )
        return EXIT_MATCH if result["hits"] else EXIT_NO_MATCH
    except api.ApiError as error:
        sys.stderr.write(f"leindex search: error: {error}\n")
        return EXIT_USAGE
    finally:
        engine.close()
        set_engine(None)
