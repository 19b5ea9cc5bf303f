"""The 'saving…' notice shown while a slow graceful shutdown persists the cache state."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, LoadingIndicator


class SavingScreen(ModalScreen[None]):
    """Shown until the app exits; it takes no input, so a second quit cannot interrupt the save."""

    DEFAULT_CSS = """
    SavingScreen {
        align: center middle;
    }
    SavingScreen > Vertical {
        width: 44;
        height: 5;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    SavingScreen Label {
        width: 1fr;
        content-align: center middle;
    }
    SavingScreen LoadingIndicator {
        height: 1;
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("saving cache state…")
            yield LoadingIndicator()
