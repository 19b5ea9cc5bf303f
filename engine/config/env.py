"""The environment layer: `LEINDEX_MEMORY_<KEY PATH>` variables, parsed from text."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.config.errors import ConfigError, ConfigWarning
from engine.config.schema import LEAF_FIELDS, LeafField, check_value

ENV_PREFIX = "LEINDEX_MEMORY_"
ENV_VARS: dict[str, LeafField] = {leaf.env_var: leaf for leaf in LEAF_FIELDS}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_env_text(leaf: LeafField, text: str, home: Path) -> Any:
    """Turn the text of `leaf`'s variable into its typed value; raise ConfigError naming it."""
    raw = text.strip()
    try:
        if leaf.kind == "bool":
            lowered = raw.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("not a boolean")
        if leaf.kind == "int":
            try:
                number: Any = int(raw)
            except ValueError:
                number = float(raw)  # "4096.0" is fine, "4k" is not
            return check_value(leaf, number, home)
        if leaf.kind in ("float", "percent"):
            return check_value(leaf, float(raw), home)
        return check_value(leaf, raw, home)
    except ValueError as error:
        reason = str(error)
        if reason.startswith(("could not convert", "invalid literal", "not a boolean")):
            reason = "cannot parse"
        raise ConfigError(
            reason,
            env_var=leaf.env_var,
            key_path=leaf.dotted,
            value=text,
            allowed=leaf.allowed + (" (also yes/no, on/off, 1/0)" if leaf.kind == "bool" else ""),
        ) from None


def read_environment(
    environ: Mapping[str, str], home: Path
) -> tuple[dict[str, tuple[Any, str]], list[ConfigWarning]]:
    """Values set by the environment: `{dotted key: (value, var name)}`, plus warnings.

    An empty variable counts as unset (`export X=` usually means "not set"), with a warning;
    an unknown `LEINDEX_MEMORY_*` name is a warning with the closest known name.
    """
    values: dict[str, tuple[Any, str]] = {}
    warnings: list[ConfigWarning] = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        leaf = ENV_VARS.get(name)
        if leaf is None:
            close = difflib.get_close_matches(name, list(ENV_VARS), n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]}?" if close else ""
            warnings.append(ConfigWarning(f"unknown variable, ignored{hint}", env_var=name))
            continue
        if not environ[name].strip():
            warnings.append(ConfigWarning("empty, treated as not set", env_var=name))
            continue
        values[leaf.dotted] = (parse_env_text(leaf, environ[name], home), name)
    return values, warnings
