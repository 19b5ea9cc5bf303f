"""The `leindex` command line."""

from __future__ import annotations

import argparse
import sys

from engine import __version__


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports bad arguments in one line with exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"leindex: error: {message} (see leindex --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="leindex", description="Code search inside a memory budget.")
    parser.add_argument("--version", action="version", version=f"leindex {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
