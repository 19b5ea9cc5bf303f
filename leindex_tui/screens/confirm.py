"""A yes/no question in a small dialog (unsaved edits, and the like)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmModal(ModalScreen[bool]):
    """Ask `question`; dismisses with True for the confirm button, False for cancel/escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", priority=True)]

    DEFAULT_CSS = """
    ConfirmModal {
        align: center middle;
    }
    ConfirmModal #confirm-box {
        width: 60;
        max-width: 100%;
        height: auto;
        padding: 1 2;
        border: thick $warning;
        background: $surface;
    }
    ConfirmModal #confirm-question {
        width: 1fr;
        padding: 0 0 1 0;
    }
    ConfirmModal #confirm-buttons {
        height: auto;
    }
    ConfirmModal Button {
        margin: 0 1 0 0;
    }
    """

    def __init__(self, question: str, confirm: str = "Discard", cancel: str = "Keep editing"):
        super().__init__()
        self.question = question
        self.confirm_label = confirm
        self.cancel_label = cancel

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Label(self.question, id="confirm-question", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button(self.cancel_label, id="confirm-cancel", variant="primary")
                yield Button(self.confirm_label, id="confirm-ok", variant="error")

    def on_mount(self) -> None:
        self.query_one("#confirm-cancel", Button).focus()

    @on(Button.Pressed, "#confirm-ok")
    def confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
