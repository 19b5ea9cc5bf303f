"""Asks what an eviction should free and spare, and returns a validated request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, SelectionList

from engine.priority import ProjectPriority
from leindex_tui.widgets.formatting import format_mb

PRIORITY_THRESHOLDS = ("LOW", "MEDIUM", "HIGH")  # CRITICAL data is never evicted
# A manual eviction frees part of what the process holds now, not of the budget: 15 % of a
# 3 GB budget is more than a small process holds at all.
DEFAULT_TARGET_SHARE_OF_RSS = 0.25


@dataclass(frozen=True)
class EvictRequest:
    """An eviction the user confirmed: free `target_mb` from projects at or below the threshold."""

    target_mb: float
    priority_threshold: str
    excluded_projects: tuple[str, ...]


def parse_target_mb(text: str, current_mb: float) -> float:
    """The target in MB from the input; ValueError with a message the modal shows as is.

    More than the process holds now (`current_mb`, its RSS) can never be freed.
    """
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"target MB must be a number, got {text.strip()!r}") from None
    if not value > 0:
        raise ValueError("target MB must be more than 0")
    if current_mb > 0 and value > current_mb:
        raise ValueError(
            f"target MB ({value:g}) is more than the process holds now "
            f"(RSS {format_mb(current_mb)}); at most {current_mb:.0f}"
        )
    return value


def default_target_mb(current_mb: float) -> float:
    """The target the dialog proposes: a share of the current RSS, whole MB from 10 MB up."""
    target = current_mb * DEFAULT_TARGET_SHARE_OF_RSS
    return float(round(target)) if target >= 10 else max(0.1, round(target, 1))


def _rank(priority: str) -> int:
    try:
        return int(ProjectPriority.from_name(priority))
    except ValueError:
        return int(ProjectPriority.MEDIUM)


def candidates(
    priorities: Mapping[str, str], threshold: str, excluded: tuple[str, ...]
) -> list[str]:
    """The projects an eviction at `threshold` may touch: at or below it, not excluded."""
    limit = _rank(threshold)
    return [
        name
        for name, priority in priorities.items()
        if _rank(priority) <= limit and name not in excluded
    ]


def default_threshold(priorities: Mapping[str, str]) -> str:
    """The lowest threshold that reaches some project (CRITICAL ones are never evicted)."""
    for threshold in PRIORITY_THRESHOLDS:
        if candidates(priorities, threshold, ()):
            return threshold
    return PRIORITY_THRESHOLDS[0]


def why_no_candidates(priorities: Mapping[str, str], threshold: str) -> str:
    """Why an eviction at `threshold` would touch nothing, naming the projects' priorities."""
    if not priorities:
        return "no project is open, so there is nothing to evict"
    above = ", ".join(
        f"{name} is {priority}"
        for name, priority in priorities.items()
        if _rank(priority) > _rank(threshold)
    )
    if above:
        return f"no project at or below priority {threshold} ({above}); raise the threshold"
    return "every project at or below the threshold is excluded"


class EvictModal(ModalScreen[EvictRequest | None]):
    """Target MB, priority threshold and excluded projects; dismisses with the request or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    EvictModal {
        align: center middle;
    }
    EvictModal > VerticalScroll {
        width: 64;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $error;
        background: $surface;
        padding: 0 1;
    }
    EvictModal .field-label {
        margin-top: 1;
        color: $foreground-muted;
    }
    EvictModal SelectionList {
        height: auto;
        max-height: 6;
    }
    EvictModal #evict-error {
        color: $error;
        height: auto;
    }
    EvictModal #evict-buttons {
        height: auto;
        align-horizontal: right;
        margin-top: 1;
    }
    EvictModal Button {
        margin-left: 1;
    }
    """

    def __init__(self, project_priorities: Mapping[str, str], current_mb: float) -> None:
        """`project_priorities`: each open project's priority name; `current_mb`: RSS now."""
        super().__init__()
        self.project_priorities = dict(project_priorities)
        self.project_names = list(self.project_priorities)
        self.current_mb = current_mb

    def compose(self) -> ComposeResult:
        default_target = default_target_mb(self.current_mb) if self.current_mb > 0 else 100
        # Scrolls when the terminal is too short for every project in the exclusion list.
        with VerticalScroll() as box:
            box.border_title = "Evict"
            yield Label(
                f"Target MB to free (RSS now {format_mb(self.current_mb)})", classes="field-label"
            )
            yield Input(f"{default_target:g}", id="evict-target", type="number")
            yield Label("Evict projects up to priority", classes="field-label")
            yield Select(
                [(name, name) for name in PRIORITY_THRESHOLDS],
                value=default_threshold(self.project_priorities),
                allow_blank=False,
                id="evict-priority",
            )
            yield Label("Exclude projects (space toggles)", classes="field-label")
            yield SelectionList[str](
                *[(name, name) for name in self.project_names], id="evict-excluded"
            )
            yield Label("", id="evict-error")
            with Horizontal(id="evict-buttons"):
                yield Button("Cancel", id="evict-cancel")
                yield Button("Evict", id="evict-confirm", variant="error")

    def on_mount(self) -> None:
        self.query_one("#evict-target", Input).focus()

    def build_request(self) -> EvictRequest:
        """The request from the fields; ValueError with the message to show when one is invalid."""
        target_mb = parse_target_mb(self.query_one("#evict-target", Input).value, self.current_mb)
        priority = self.query_one("#evict-priority", Select).value
        if priority not in PRIORITY_THRESHOLDS:
            raise ValueError("choose a priority threshold")
        excluded = tuple(self.query_one("#evict-excluded", SelectionList).selected)
        unknown = [name for name in excluded if name not in self.project_names]
        if unknown:
            raise ValueError(f"unknown project(s): {', '.join(unknown)}")
        if not candidates(self.project_priorities, str(priority), excluded):
            raise ValueError(why_no_candidates(self.project_priorities, str(priority)))
        return EvictRequest(target_mb, str(priority), excluded)

    @on(Input.Changed, "#evict-target")
    @on(Select.Changed, "#evict-priority")
    @on(SelectionList.SelectedChanged, "#evict-excluded")
    def revalidate(self) -> None:
        """Once an error shows, every change re-checks: a fixed field clears it at once."""
        error_label = self.query_one("#evict-error", Label)
        if not str(error_label.content):
            return
        try:
            self.build_request()
        except ValueError as error:
            error_label.update(str(error))
        else:
            error_label.update("")

    @on(Button.Pressed, "#evict-confirm")
    @on(Input.Submitted, "#evict-target")
    def confirm(self) -> None:
        error_label = self.query_one("#evict-error", Label)
        try:
            request = self.build_request()
        except ValueError as error:
            error_label.update(str(error))
            self.query_one("#evict-target", Input).focus()
            return
        self.dismiss(request)

    @on(Button.Pressed, "#evict-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
