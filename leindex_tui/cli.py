"""The `leindex` command line.

`leindex [PATH ...]` opens the TUI, `leindex --headless [PATH ...]` serves MCP on stdio, and
`leindex <subcommand> ...` runs one of `SUBCOMMANDS`. argparse cannot mix free positional
paths with subparsers, so the first argument decides: a known subcommand name, or paths.

Each subcommand is a module `leindex_tui/commands/<name>.py` with `add_arguments(parser)` and
`run(args) -> int`; adding one is adding a module and a row to `SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from engine import __version__

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "config": ("leindex_tui.commands.config", "check or print the merged configuration"),
    "search": ("leindex_tui.commands.search", "search the indexed projects"),
    "reload": ("leindex_tui.commands.reload", "make the running instance reload its config"),
    "diagnostics": ("leindex_tui.commands.diagnostics", "print get_diagnostics JSON"),
    "status": ("leindex_tui.commands.status", "budget, RSS, level and projects of the running one"),
    "models": ("leindex_tui.commands.models", "list local embedding models, or pull one"),
}
"""name → (module, one-line help)."""

EXAMPLES = """\
examples:
  leindex                      # the dashboard over the current directory
  leindex ~/src/app ~/src/lib  # the dashboard over two projects
  leindex --headless ~/src/app # an MCP server on stdio (for an editor or agent)
  leindex search parse_config  # one search from the shell"""

APP_RUNNER = ("leindex_tui.app", "run_app")
HEADLESS_RUNNER = ("leindex_tui.headless", "run_headless")
"""(module, function) called with the list of resolved project paths."""

EXIT_OK = 0
EXIT_FAILURE = 1  # something went wrong while running
EXIT_USAGE = 2  # bad arguments, paths or config


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports bad arguments in one line with exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser (TUI / headless over paths)."""
    commands = "\n".join(f"  {name:<12} {help_}" for name, (_, help_) in SUBCOMMANDS.items())
    parser = ArgumentParser(
        prog="leindex",
        usage=f"leindex [--headless] [PATH ...]\n       leindex {{{','.join(SUBCOMMANDS)}}} ...",
        description="Code search inside a memory budget.",
        epilog=f"subcommands (leindex <subcommand> --help):\n{commands}\n\n{EXAMPLES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"leindex {__version__}")
    parser.add_argument(
        "--headless", action="store_true", help="serve MCP on stdio instead of the TUI"
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="project directories (default: .)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 failure, 2 bad usage)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] in SUBCOMMANDS:
            return _run_subcommand(args[0], args[1:])
        return _run_paths(args)
    except SystemExit as exit_:  # argparse's --help / --version / usage errors
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if os.environ.get("LEINDEX_DEBUG") == "1":
            traceback.print_exc()
        message = str(error).splitlines()[0] if str(error) else ""
        sys.stderr.write(
            f"leindex: unexpected error: {type(error).__name__}: {message}"
            " (set LEINDEX_DEBUG=1 for the traceback)\n"
        )
        return EXIT_FAILURE


def _run_subcommand(name: str, rest: list[str]) -> int:
    module_name, help_ = SUBCOMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        sys.stderr.write(f"leindex {name}: not yet available\n")
        return EXIT_USAGE
    parser = ArgumentParser(
        prog=f"leindex {name}",
        description=help_,
        epilog=getattr(module, "EXAMPLES", None),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(rest)))


def _run_paths(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    paths: list[str] = []
    # An MCP client may start the server from any directory (even /), so headless mode indexes
    # only what it is told to; the TUI opens the current directory by default.
    default_paths = [] if args.headless else ["."]
    for raw in args.paths or default_paths:
        path = Path(raw).expanduser()
        if not path.exists():
            return _usage_error(f"no such directory: {raw}")
        if not path.is_dir():
            return _usage_error(f"not a directory: {raw}")
        paths.append(str(path.resolve()))
    module_name, function = HEADLESS_RUNNER if args.headless else APP_RUNNER
    if importlib.util.find_spec(module_name) is None:
        mode = "headless MCP server" if args.headless else "TUI"
        print(f"leindex: the {mode} is not built yet; would open: {', '.join(paths)}")
        return EXIT_OK
    runner = getattr(importlib.import_module(module_name), function)
    result = runner(paths)
    return int(result) if result is not None else EXIT_OK


def _usage_error(message: str) -> int:
    sys.stderr.write(f"leindex: error: {message}\n")
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
