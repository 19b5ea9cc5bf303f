"""`leindex reload`: ask the running instance to re-read its config (SIGHUP via leindex.pid)."""

from __future__ import annotations

import argparse
import os
import signal
import sys

EXAMPLES = """\
examples:
  leindex reload                  # validate the config, then SIGHUP the running leindex
  leindex reload --no-validate    # send the SIGHUP even if the files do not validate here
"""
"""Shown at the end of `leindex reload --help`."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`leindex reload` takes no arguments beyond LEINDEX_HOME in the environment."""
    parser.add_argument(
        "--no-validate",
        action="store_true",
        help="send SIGHUP even if the config files do not validate here",
    )


def run(args: argparse.Namespace) -> int:
    """Validate the config files, then SIGHUP the pid in leindex.pid; 0 if the signal was sent."""
    from engine.config import ConfigError, leindex_home, load_config
    from engine.pidfile import running_instance_pid

    home = leindex_home()
    if not args.no_validate:
        try:
            load_config(home)
        except ConfigError as error:
            # The running instance would reject it too and keep its config: say why here.
            sys.stderr.write(f"leindex: config not reloaded, it does not validate: {error}\n")
            return 1
    pid, reason = running_instance_pid(home)
    if pid is None:
        sys.stderr.write(f"leindex: {reason}\n")
        return 1
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        sys.stderr.write(f"leindex: pid {pid} exited just now; nothing to reload\n")
        return 1
    except PermissionError:
        sys.stderr.write(f"leindex: not allowed to signal pid {pid} (another user's process)\n")
        return 1
    print(f"sent SIGHUP to leindex (pid {pid}); it reloads {home / 'config.yaml'} now")
    return 0
