"""`leindex reload`: make the running instance re-read its config.

Asked over the control socket, so the answer says what changed (or that nothing did, or why
the instance rejected the files). An instance without a control channel gets SIGHUP via
leindex.pid. With no instance at all, the config is only checked here, and it says so.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

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
        help="ask for the reload even if the config files do not validate here",
    )


def run(args: argparse.Namespace) -> int:
    """Validate the config files, then have the instance reload; 0 if it did."""
    from engine.config import ConfigError, leindex_home, load_config
    from engine.control import ControlError, NoInstanceError, request

    home = leindex_home()
    if not args.no_validate:
        try:
            load_config(home)
        except ConfigError as error:
            # The running instance would reject it too and keep its config: say why here.
            sys.stderr.write(f"leindex: config not reloaded, it does not validate: {error}\n")
            return 1
    try:
        reply = request(home, "reload")
    except NoInstanceError as missing:
        return _signal_via_pidfile(home, str(missing), validated=not args.no_validate)
    except ControlError as error:
        sys.stderr.write(f"leindex reload: error: {error}\n")
        return 1
    return _report(reply.result, reply.pid, home)


def _report(result: dict[str, Any], pid: int, home: Path) -> int:
    if not result.get("success"):
        sys.stderr.write(
            f"leindex: the running leindex (pid {pid}) kept its config: {result.get('error')}\n"
        )
        return 1
    changes = "; ".join(result.get("changes") or ()) or "no changes"
    print(f"leindex (pid {pid}) reloaded {home / 'config.yaml'}: {changes}")
    for warning in result.get("warnings") or ():
        sys.stderr.write(f"warning: {warning}\n")
    return 0


def _signal_via_pidfile(home: Path, missing: str, *, validated: bool) -> int:
    """An instance whose control channel is off still reloads on SIGHUP."""
    from engine.pidfile import running_instance_pid

    pid, reason = running_instance_pid(home)
    if pid is None:
        checked = "the config validates in this process, " if validated else ""
        sys.stderr.write(f"leindex: {missing}; {checked}nothing to reload ({reason})\n")
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
