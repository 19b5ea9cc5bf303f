"""The dashboard: where the memory is and what the manager does about it, live."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane

from engine.memory.status import DashboardStatus
from leindex_tui.widgets.action_log import ActionLog
from leindex_tui.widgets.breakdown_tree import BreakdownTree
from leindex_tui.widgets.caps_gauge import CapsGauge
from leindex_tui.widgets.eviction_table import EvictionTable
from leindex_tui.widgets.formatting import format_mb
from leindex_tui.widgets.indexing_progress import IndexingProgress
from leindex_tui.widgets.projects_table import ProjectsTable
from leindex_tui.widgets.rss_history import RssHistory
from leindex_tui.widgets.threshold_gauge import ThresholdGauge

# The dashboard's keys. They call app actions so the command palette and every screen share
# one implementation.
DASHBOARD_BINDINGS = [
    Binding("c", "app.cleanup", "Clean"),
    Binding("s", "app.spill", "Spill"),
    Binding("e", "app.evict", "Evict"),
    Binding("g", "app.gc", "GC"),
    Binding("r", "app.reload_config", "Reload"),
    Binding("slash", "app.search", "Search", key_display="/"),
    Binding("o", "app.edit_config", "Config"),
    Binding("question_mark", "app.help", "Help", key_display="?"),
    Binding("q", "app.quit", "Quit"),
]


class DashboardScreen(Screen[None]):
    """Gauges, RSS history, breakdown tree, projects, evictions and the action log."""

    BINDINGS = DASHBOARD_BINDINGS
    # The screen gets -narrow, -medium or -wide; app.tcss sizes the side panes for each.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-medium"), (140, "-wide")]

    def __init__(self) -> None:
        super().__init__()
        self._gauge_title = ""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="≡")
        with Horizontal(id="top"):
            yield ThresholdGauge(id="gauge")
            with Vertical(id="side"):
                yield CapsGauge(id="caps")
                yield RssHistory(id="rss")
        yield IndexingProgress(id="indexing")
        with Horizontal(id="bottom"):
            yield BreakdownTree(id="breakdown")
            with TabbedContent(id="tabs"):
                with TabPane("Projects", id="tab-projects"):
                    yield ProjectsTable(id="projects")
                with TabPane("Evictions", id="tab-evictions"):
                    yield EvictionTable(id="evictions")
                with TabPane("Log", id="tab-log"):
                    yield ActionLog(id="log")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        if not self._gauge_title:  # a status may have arrived first and titled it already
            self.query_one("#gauge").border_title = "Memory budget"
        self.query_one("#side").border_title = "Caps"

    def show_status(self, status: DashboardStatus) -> None:
        """Push one snapshot into every pane; each pane repaints only what changed."""
        try:
            self._show(status)
        except NoMatches:
            # The tabs mount their panes a moment after the screen: show it once they are in.
            self.call_after_refresh(self.show_status, status)

    def _show(self, status: DashboardStatus) -> None:
        gauge = self.query_one(ThresholdGauge)
        gauge.update_from(status)
        title = f"Memory budget {format_mb(status.budget_mb)}"
        if self._gauge_title != title:  # setting a title repaints the frame, even if equal
            self._gauge_title = title
            gauge.border_title = title
        self.query_one(CapsGauge).update_from(status)
        self.query_one(RssHistory).update_samples(status.rss_history_mb)
        self.query_one(BreakdownTree).update_breakdown(status.breakdown)
        self.query_one(ProjectsTable).update_projects(status.projects, status.timestamp)
        self.query_one(EvictionTable).update_records(status.evictions)
        self.query_one(IndexingProgress).update_projects(status.projects, status.timestamp)
        for level in ("normal", "soft", "hard", "emergency"):
            self.set_class(status.level.lower() == level, f"-level-{level}")

    @property
    def action_log(self) -> ActionLog:
        """The log pane, where the app records every action's outcome."""
        return self.query_one(ActionLog)
