"""What the dashboard says about the config: the header's problem line and the Log's lines.

A config that failed to load stays in the header until a load succeeds ("config OK again");
warnings (unknown keys with their suggestion) are logged once each while they last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LogEntry:
    """One line for the dashboard's action log."""

    action: str
    text: str
    ok: bool = True


class ConfigProblems:
    """Tracks the latest config load; each method returns the Log lines it calls for."""

    def __init__(self) -> None:
        self.problem: str | None = None
        """'running on defaults: <file>:<line>: …' (or a rejected reload's), None when fine."""
        self._on_defaults = False
        self._logged_warnings: frozenset[str] = frozenset()

    def start_up(self, report: Mapping[str, Any]) -> list[LogEntry]:
        """Read `get_diagnostics(type="config")` taken right after start-up."""
        error = report.get("error")
        if not error:
            return self.warnings(report.get("warnings") or ())
        sources = report.get("sources") or {}
        # A start-up error leaves built-in defaults: every value's source is "default".
        self._on_defaults = all(source == "default" for source in sources.values())
        self.outcome(False, str(error))
        return [LogEntry("config", str(self.problem), ok=False)]

    def outcome(self, success: bool, error: str | None) -> list[LogEntry]:
        """A load's result: a failure sets the problem; the success that clears one logs
        'config OK again' (the only line this returns)."""
        if not success:
            if self._on_defaults:
                self.problem = f"running on defaults: {error}"
            else:
                self.problem = f"config rejected, the previous config stays: {error}"
            return []
        recovered = self.problem is not None
        self.problem = None
        self._on_defaults = False
        return [LogEntry("config", "config OK again")] if recovered else []

    def warnings(self, warnings: Iterable[str]) -> list[LogEntry]:
        """The current warnings: returns those not logged since they last appeared."""
        current = frozenset(str(warning) for warning in warnings)
        fresh = sorted(current - self._logged_warnings)
        self._logged_warnings = current
        return [LogEntry("config warning", warning, ok=False) for warning in fresh]

    def also_logged(self, warnings: Iterable[str]) -> None:
        """Warnings logged elsewhere (an editor save): a reload of the same file stays quiet."""
        self._logged_warnings |= frozenset(str(warning) for warning in warnings)
