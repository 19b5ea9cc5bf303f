"""Asks what an eviction should free and spare, and returns a validated request."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, SelectionList

PRIORITY_THRESHOLDS = ("LOW", "MEDIUM", "HIGH")  # CRITICAL data is never evicted
# The guide's emergency target: free 15 % of the budget.
DEFAULT_TARGET_FRACTION = 0.15


@dataclass(frozen=True)
class EvictRequest:
    """An eviction the user confirmed: free `target_mb` from projects at or below the threshold."""

    target_mb: float
    priority_threshold: str
    excluded_projects: tuple[str, ...]


def parse_target_mb(text: str, budget_mb: float) -> float:
    """The target in MB from the input; ValueError with a message the modal shows as is."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"target MB must be a number, got {text.strip()!r}") from None
    if not value > 0:
        raise ValueError("target MB must be more than 0")
    if budget_mb > 0 and value > budget_mb:
        raise ValueError(f"target MB must be at most the budget ({budget_mb:.0f} MB)")
    return value


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

    def __init__(self, project_names: list[str], budget_mb: float) -> None:
        super().__init__()
        self.project_names = project_names
        self.budget_mb = budget_mb

    def compose(self) -> ComposeResult:
        default_target = round(self.budget_mb * DEFAULT_TARGET_FRACTION) if self.budget_mb else 100
        # Scrolls when the terminal is too short for every project in the exclusion list.
        with VerticalScroll() as box:
            box.border_title = "Evict"
            yield Label("Target MB to free", classes="field-label")
            yield Input(str(default_target), id="evict-target", type="number")
            yield Label("Evict projects up to priority", classes="field-label")
            yield Select(
                [(name, name) for name in PRIORITY_THRESHOLDS],
                value="LOW",
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
        target_mb = parse_target_mb(self.query_one("#evict-target", Input).value, self.budget_mb)
        priority = self.query_one("#evict-priority", Select).value
        if priority not in PRIORITY_THRESHOLDS:
            raise ValueError("choose a priority threshold")
        excluded = tuple(self.query_one("#evict-excluded", SelectionList).selected)
        unknown = [name for name in excluded if name not in self.project_names]
        if unknown:
            raise ValueError(f"unknown project(s): {', '.join(unknown)}")
        return EvictRequest(target_mb, str(priority), excluded)

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
