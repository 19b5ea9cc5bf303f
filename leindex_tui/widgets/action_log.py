"""What ran and what it did: one line per action, reload and alert, newest at the bottom."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from leindex_tui.widgets.formatting import format_clock_time

MAX_LINES = 500


def measured_text(freed_mb: float) -> str:
    """The RSS change an action measured, labelled as a measurement ('RSS down 5.3 MB')."""
    direction = "down" if freed_mb >= 0 else "up"
    return f"RSS {direction} {abs(freed_mb):.1f} MB (measured)"


class ActionLog(RichLog):
    """A bounded log of actions with their result and the RSS change they measured.

    RichLog renders a line once, at the width it has then; this log keeps the lines it was
    given and renders them again when its width changes, so text re-wraps to the pane.
    """

    COMPONENT_CLASSES = {"action-log--ok", "action-log--failed", "action-log--time"}

    DEFAULT_CSS = """
    ActionLog {
        height: 1fr;
        background: transparent;
        overflow-x: hidden;
    }
    ActionLog > .action-log--ok { color: $success; }
    ActionLog > .action-log--failed { color: $error; }
    ActionLog > .action-log--time { color: $foreground-muted; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        # min_width=1: RichLog's default (78) wraps wider than a narrow pane and clips.
        super().__init__(
            id=id, classes=classes, max_lines=MAX_LINES, wrap=True, markup=False, min_width=1
        )
        self.entries: list[str] = []  # the plain lines, for tests and the screenshots
        self._texts: list[Text] = []
        self._rendered_width = 0

    def log_action(
        self,
        timestamp: float,
        action: str,
        result: str,
        *,
        ok: bool = True,
        freed_mb: float | None = None,
    ) -> None:
        """Append '<time>  <action>  <result>  RSS down <MB> (measured)' in the outcome colour."""
        measured = f"  {measured_text(freed_mb)}" if freed_mb is not None else ""
        outcome_class = "action-log--ok" if ok else "action-log--failed"
        line = Text.assemble(
            (format_clock_time(timestamp), self.get_component_rich_style("action-log--time")),
            "  ",
            (action, "bold"),
            "  ",
            (result, self.get_component_rich_style(outcome_class)),
            measured,
        )
        self.entries.append(line.plain)
        del self.entries[:-MAX_LINES]
        self._texts.append(line)
        del self._texts[:-MAX_LINES]
        self.write(line)

    def on_resize(self, event: Resize) -> None:
        width = self.scrollable_content_region.width
        if width and self._rendered_width and width != self._rendered_width:
            self.clear()
            for text in self._texts:
                self.write(text)
        if width:
            self._rendered_width = width

    def shown_lines(self) -> list[str]:
        """The log as it is on screen now: one string per screen line, wrapped."""
        return [strip.text.rstrip() for strip in self.lines]


def describe_result(action: str, result: dict) -> tuple[str, bool, float | None]:
    """Turn an `engine.api` result dict into (one-line summary, ok, RSS MB freed or None).

    The RSS figure is None when the action did nothing: RSS moves on its own, and a spill of
    0 entries must not look as if it freed memory.
    """
    ok = bool(result.get("success", True))
    freed = result.get("freed_mb")
    freed_mb = float(freed) if isinstance(freed, int | float) else None
    error = result.get("error")
    if not ok and error:
        return str(error), False, freed_mb
    describe = _DESCRIBERS.get(action, _describe_changes)
    text, ok, did_something = describe(result, ok)
    return text, ok, freed_mb if did_something else None


def _count(result: dict[str, Any], key: str) -> int:
    value = result.get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _mb(result: dict[str, Any], key: str) -> float:
    value = result.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def _describe_cleanup(result: dict[str, Any], ok: bool) -> tuple[str, bool, bool]:
    details = result.get("cleanup_details")
    details = details if isinstance(details, dict) else {}
    cleared = _count(details, "cache_entries_cleared")
    unloaded = _count(details, "files_unloaded")
    collected = _count(details, "gc_objects_collected")
    entries = _plural(cleared, "cache entry", "cache entries")
    dropped = (
        f"cleared {entries}, unloaded {_plural(unloaded, 'file')}"
        if cleared or unloaded
        else "no old cache entries to drop"
    )
    return f"ok: {dropped}; collected {collected} objects", ok, True


def _describe_spill(result: dict[str, Any], ok: bool) -> tuple[str, bool, bool]:
    spilled = _count(result, "entries_spilled")
    errors = [str(error) for error in result.get("errors") or []]
    error_text = f"; errors: {'; '.join(errors)}" if errors else ""
    if spilled == 0:
        return f"nothing to spill: no cached queries or loaded files{error_text}", ok, False
    projects = ", ".join(map(str, result.get("projects") or []))
    source = f" from {projects}" if projects else ""
    accounted = _mb(result, "accounted_freed_mb")
    entries = _plural(spilled, "entry", "entries")
    text = f"spilled {entries}{source}, freed {accounted:.1f} MB (accounted)"
    return text + error_text, ok, True


def _describe_evict(result: dict[str, Any], ok: bool) -> tuple[str, bool, bool]:
    count = _count(result, "evicted_count")
    candidates = _count(result, "total_candidates")
    if count == 0:
        if candidates == 0:
            why = "no project is at or below the priority threshold and not excluded"
        else:
            why = f"the {_plural(candidates, 'candidate project')} hold no cached data"
        return f"nothing evicted: {why}", ok, False
    projects = ", ".join(map(str, result.get("evicted_projects") or []))
    accounted = _mb(result, "evicted_count_mb")
    target = _mb(result, "target_mb")
    met = result.get("target_met", True)
    head = "ok" if met else "target not met"
    of_target = f" of {target:.1f} MB asked" if target else ""
    text = (
        f"{head}: evicted {_plural(count, 'entry', 'entries')} from {projects or '—'}, "
        f"freed {accounted:.1f} MB (accounted){of_target}; {_plural(candidates, 'candidate')}"
    )
    return text, ok and bool(met), True


def _describe_gc(result: dict[str, Any], ok: bool) -> tuple[str, bool, bool]:
    return f"ok: collected {_count(result, 'gc_objects_collected')} objects", ok, True


def _describe_changes(result: dict[str, Any], ok: bool) -> tuple[str, bool, bool]:
    changes = result.get("changes")
    if isinstance(changes, list):
        return "ok: " + ("; ".join(map(str, changes)) if changes else "no changes"), ok, True
    return "ok" if ok else "failed", ok, True


def _describe_priority(result: dict[str, Any], ok: bool) -> tuple[str, bool, bool]:
    text, ok, _ = _describe_changes(result, ok)
    # The API sets it for this run only; the project file is what makes it stay.
    return f"{text} (until LeIndex exits; to keep it set memory.priority with o)", ok, True


_DESCRIBERS: dict[str, Callable[[dict[str, Any], bool], tuple[str, bool, bool]]] = {
    "cleanup": _describe_cleanup,
    "spill": _describe_spill,
    "evict": _describe_evict,
    "gc": _describe_gc,
    "priority": _describe_priority,
}
