"""Where LeIndex keeps its files: `LEINDEX_HOME`, default `~/.leindex`."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

CONFIG_FILE_NAME = "config.yaml"
PROJECTS_DIR_NAME = "projects"
PROJECT_FILE_SUFFIXES = (".yaml", ".yml")

# The same rule as engine.atomic.safe_child: a project name is also a file name.
_PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
PROJECT_NAME_RULE = "letters, digits, '.', '_' or '-', not starting with '.' or '-'"


def leindex_home(environ: Mapping[str, str] | None = None) -> Path:
    """`$LEINDEX_HOME` (with `~` expanded) or `~/.leindex`."""
    env = os.environ if environ is None else environ
    raw = env.get("LEINDEX_HOME", "").strip()
    # Absolute, so that paths compared against it (the config watcher's) agree.
    return (Path(raw).expanduser() if raw else Path("~/.leindex").expanduser()).absolute()


def is_valid_project_name(name: str) -> bool:
    """True if `name` can name a project (and its `projects/<name>.yaml` file)."""
    return bool(_PROJECT_NAME.match(name)) and ".." not in name
