"""What ran and what it did: one line per action, reload and alert, newest at the bottom."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from leindex_tui.widgets.formatting import format_clock_time


class ActionLog(RichLog):
    """A bounded log of actions with their result and the MB they freed."""

    COMPONENT_CLASSES = {"action-log--ok", "action-log--failed", "action-log--time"}

    DEFAULT_CSS = """
    ActionLog {
        height: 1fr;
        background: transparent;
    }
    ActionLog > .action-log--ok { color: $success; }
    ActionLog > .action-log--failed { color: $error; }
    ActionLog > .action-log--time { color: $foreground-muted; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, max_lines=500, wrap=True, markup=False)
        self.entries: list[str] = []  # the plain lines, for tests and the screenshots

    def log_action(
        self,
        timestamp: float,
        action: str,
        result: str,
        *,
        ok: bool = True,
        freed_mb: float | None = None,
    ) -> None:
        """Append '<time>  <action>  <result>  freed <MB>' in the ok or failed colour."""
        freed = f"  freed {freed_mb:.1f} MB" if freed_mb is not None else ""
        outcome_class = "action-log--ok" if ok else "action-log--failed"
        line = Text.assemble(
            (format_clock_time(timestamp), self.get_component_rich_style("action-log--time")),
            "  ",
            (action, "bold"),
            "  ",
            (result, self.get_component_rich_style(outcome_class)),
            freed,
        )
        self.entries.append(line.plain)
        del self.entries[:-500]
        self.write(line)


def describe_result(action: str, result: dict) -> tuple[str, bool, float | None]:
    """Turn an `engine.api` result dict into (one-line summary, ok, MB freed or None)."""
    ok = bool(result.get("success", True))
    freed = result.get("freed_mb")
    freed_mb = float(freed) if isinstance(freed, int | float) else None
    error = result.get("error")
    if not ok and error:
        return str(error), False, freed_mb
    parts: list[str] = []
    details = result.get("cleanup_details")
    if isinstance(details, dict):
        parts.extend(f"{key.replace('_', ' ')} {value}" for key, value in details.items())
    for key in _SUMMARY_KEYS:
        if key in result:
            value = result[key]
            shown = f"{value:.1f}" if isinstance(value, float) else str(value)
            parts.append(f"{key.replace('_', ' ')} {shown}")
    for key in ("evicted_projects", "projects", "errors"):
        if result.get(key):
            parts.append(f"{key.replace('_', ' ')} " + ", ".join(map(str, result[key])))
    changes = result.get("changes")
    if isinstance(changes, list):
        parts.append("; ".join(map(str, changes)) if changes else "no changes")
    # A False success without an error means the action ran but fell short (an eviction
    # that could not reach its target): say so, with what it did.
    head = "ok" if ok else "target not met"
    return (head + (": " + ", ".join(parts) if parts else "")), ok, freed_mb


_SUMMARY_KEYS = (
    "entries_spilled",
    "accounted_freed_mb",
    "evicted_count",
    "evicted_count_mb",
    "total_candidates",
    "gc_objects_collected",
)
