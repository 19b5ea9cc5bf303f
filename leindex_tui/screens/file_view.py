"""A read-only view of one file, opened at a search hit's line."""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, TextArea
from textual.worker import Worker, WorkerState

MAX_VIEW_BYTES = 2_000_000  # larger files are cut, so opening one never stalls the app


class FileViewScreen(Screen[None]):
    """The file with line numbers and the cursor on the hit's line."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, path: Path, line: int) -> None:
        super().__init__()
        self.path = Path(path)
        self.line = max(1, line)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="≡")
        yield TextArea("", read_only=True, show_line_numbers=True, id="file-text", soft_wrap=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = f"{self.path}:{self.line}"
        self.load_file()

    @work(thread=True, exit_on_error=False, group="file-view")
    def load_file(self) -> str:
        """Read the file off the event loop (it may be large or on a slow disk)."""
        with self.path.open("rb") as handle:
            data = handle.read(MAX_VIEW_BYTES)
        return data.decode("utf-8", errors="replace")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "file-view":
            return
        area = self.query_one(TextArea)
        if event.state == WorkerState.ERROR:
            area.load_text(f"cannot open {self.path}: {event.worker.error}")
        elif event.state == WorkerState.SUCCESS:
            area.load_text(event.worker.result)
            row = min(self.line - 1, area.document.line_count - 1)
            area.move_cursor((row, 0), center=True)
            area.focus()
