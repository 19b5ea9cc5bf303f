"""Every key of the app and what it does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP_TEXT = """\
# LeIndex keys

| Key | Does |
| --- | --- |
| `c` | **Cleanup**: drop old cache entries, collect garbage (the SOFT-level action) |
| `s` | **Spill**: move cached queries and loaded files to the spill directory (HARD) |
| `e` | **Evict**: free a target MB by project priority (EMERGENCY); asks target and exclusions |
| `g` | **GC**: run the garbage collector and return freed memory to the OS |
| `r` | **Reload** the config files now (as SIGHUP or a file change would) |
| `/` | **Search** the projects; `enter` on a result opens the file at that line |
| `o` | **Config editor**: YAML with validation, or a form for the common keys; `ctrl+s` saves |
| `p` | on the Projects table: cycle the selected project's **priority** |
| `?` | this help |
| `q` | **Quit**: saves the cache state first (`cache_state.json`) |
| `ctrl+p` | command palette: every action above, and the light/dark theme switch |

Every action runs in the background; its result appears as a notification and in the Log tab.
The header turns to the warning or error colour at the SOFT, HARD and EMERGENCY levels.
"""


class HelpScreen(ModalScreen[None]):
    """The key reference; any of escape, q or ? closes it."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90%;
        max-width: 100;
        height: 90%;
        border: round $primary;
        background: $surface;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(HELP_TEXT)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
