"""Every key of the app and what it does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Markdown

HELP_TEXT = """\
# LeIndex keys

Press `escape`, `q` or `?` to close this help.

| Key | Does |
| --- | --- |
| `c` | **Cleanup**: drop old cache entries, collect garbage (the SOFT-level action) |
| `s` | **Spill**: move cached queries and loaded files to the spill directory (HARD) |
| `e` | **Evict**: free a target MB by project priority (EMERGENCY); asks target and exclusions |
| `g` | **GC**: run the garbage collector and return freed memory to the OS |
| `r` | **Reload** the config files now (as SIGHUP or a file change would) |
| `/` | **Search** the projects; `enter` on a result opens the file at that line |
| `o` | **Config editor**: YAML with validation, or a form for the common keys; `ctrl+s` saves |
| `p` | Projects table: cycle the **priority**, until exit (to keep it: `o`, `memory.priority`) |
| `tab` | in the config editor: leave the YAML text; `ctrl+t` switches YAML ↔ Form |
| `?` | this help |
| `q` | **Quit**: saves the cache state first (`cache_state.json`) |
| `ctrl+p` | command palette: every action above, and the light/dark theme switch |

Every action runs in the background; its result appears as a notification and in the Log tab.
The header turns to the warning or error colour at the SOFT, HARD and EMERGENCY levels.

In the Memory Breakdown, `·acct` marks a figure the engine accounted (summed from its
caches and indexes) and `·calc` one derived as a difference; unmarked figures are measured.
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
        with VerticalScroll() as box:
            box.border_title = "Help"
            box.border_subtitle = "escape closes"
            yield Markdown(HELP_TEXT)
        # The help's own footer: the dashboard's keys behind it do nothing while it is open.
        yield Footer(compact=True, show_command_palette=False)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
