"""The one error type and the warning type of the configuration loader.

Both carry where the problem is (file and line, or environment variable), the dotted key
path, the offending value and what is allowed, so that every caller (CLI, TUI editor, MCP,
reload) can show one precise line without re-parsing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

_NO_VALUE: Any = object()


def format_value(value: Any) -> str:
    """A short, YAML-flavoured rendering of a config value for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):  # ProjectPriority
        return value.name
    if isinstance(value, str):
        return repr(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _where(
    file: Path | str | None, line: int | None, env_var: str | None, origin: str | None = None
) -> str:
    if env_var:
        return f"env {env_var}"
    if file is None:
        return origin or "config"
    return f"{file}:{line}" if line else str(file)


class ConfigError(ValueError):
    """A configuration that cannot be used; `str()` is one line `file:line: key = value: why`.

    Attributes: `file` (Path or None), `line` (1-based or None), `key_path` (dotted, or None),
    `value` (the bad value, None when there is none), `allowed` (what would be accepted),
    `env_var` (the environment variable when the value came from the environment),
    `reason` (what is wrong), `origin` (e.g. "override" when neither file nor env).
    """

    def __init__(
        self,
        reason: str,
        *,
        file: Path | str | None = None,
        line: int | None = None,
        key_path: str | None = None,
        value: Any = _NO_VALUE,
        allowed: str | None = None,
        env_var: str | None = None,
        origin: str | None = None,
    ) -> None:
        self.reason = reason
        self.origin = origin
        self.file = Path(file) if isinstance(file, str) else file
        self.line = line
        self.key_path = key_path
        self.has_value = value is not _NO_VALUE
        self.value = None if value is _NO_VALUE else value
        self.allowed = allowed
        self.env_var = env_var
        super().__init__(self._render())

    def _render(self) -> str:
        text = _where(self.file, self.line, self.env_var, self.origin) + ": "
        if self.key_path:
            text += self.key_path
            if self.has_value:
                text += f" = {format_value(self.value)}"
            text += ": "
        text += self.reason
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        return text


@dataclass(frozen=True)
class ConfigWarning:
    """Something in the config that is ignored or suspicious, but does not stop loading."""

    message: str
    file: Path | None = None
    line: int | None = None
    key_path: str | None = None
    env_var: str | None = None

    def __str__(self) -> str:
        text = _where(self.file, self.line, self.env_var) + ": "
        if self.key_path:
            text += f"{self.key_path}: "
        return text + self.message
