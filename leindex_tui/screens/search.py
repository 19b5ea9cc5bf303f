"""Search the projects: query, mode and project; results as path:line; enter opens the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Checkbox, DataTable, Footer, Header, Input, Label, Select
from textual.worker import Worker, WorkerState

from engine import api
from leindex_tui.screens.file_view import FileViewScreen

SEARCH_MODES = ("fulltext", "semantic", "hybrid")
ALL_PROJECTS = "__all__"
RESULT_LIMIT = 50
PLACEHOLDERS = {
    "fulltext": 'words or tantivy syntax: AND, OR, "a phrase", path:engine',
    "semantic": "describe what the code does, in plain words",
    "hybrid": "words or a description; ranked by text and meaning",
}
SCORE_WIDTH = 6
# The location gets at most this share of the row; the matched line gets the rest.
LOCATION_SHARE = 0.4
MIN_MATCH_WIDTH = 20


def shorten_left(text: str, width: int) -> str:
    """`text` in `width` cells, cut from the left ('…/memory/manager.py:41'): the file name
    and line are what tell hits apart."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[-width:] if width > 0 else ""
    return "…" + text[-(width - 1) :]


def result_columns(
    hits: list[SearchHitRow], table_width: int, *, show_project: bool
) -> list[tuple[str, str, int]]:
    """(key, title, width) of each results column, sized for these hits and this width."""
    cell_padding = 2  # DataTable pads each cell by one on each side
    columns: list[tuple[str, str, int]] = [("score", "Score", SCORE_WIDTH)]
    if show_project:
        longest_project = max((len(hit.project) for hit in hits), default=7)
        columns.append(("project", "Project", min(max(7, longest_project), 16)))
    used = sum(width + cell_padding for _key, _title, width in columns)
    longest_location = max((len(hit.location) for hit in hits), default=8)
    room = max(0, table_width - used - cell_padding * 2 - 1)  # 1: the scrollbar's gutter
    location_width = max(8, min(longest_location, int(room * LOCATION_SHARE)))
    if room - location_width < MIN_MATCH_WIDTH:
        location_width = max(8, min(longest_location, room - MIN_MATCH_WIDTH))
    columns.append(("location", "Location", location_width))
    columns.append(("text", "Matched line", max(MIN_MATCH_WIDTH, room - location_width)))
    return columns


@dataclass(frozen=True)
class SearchHitRow:
    """One hit as the table shows it and as the file view opens it."""

    project: str
    path: str
    line: int
    text: str
    score: float

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"


def hits_from_result(result: dict[str, Any]) -> list[SearchHitRow]:
    """The hits of an `api.search` result dict, skipping malformed entries."""
    rows = []
    for hit in result.get("hits") or result.get("results") or []:
        if not isinstance(hit, dict) or "path" not in hit:
            continue
        rows.append(
            SearchHitRow(
                project=str(hit.get("project", "")),
                path=str(hit["path"]),
                line=int(hit.get("line") or 1),
                text=str(hit.get("text", "")).strip(),
                score=float(hit.get("score") or 0.0),
            )
        )
    return rows


class SearchScreen(Screen[None]):
    """A query box, the mode and project pickers and a results table."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("ctrl+o", "open_selected", "Open file"),
    ]

    DEFAULT_CSS = """
    SearchScreen #search-bar {
        height: auto;
    }
    SearchScreen #search-query {
        width: 1fr;
    }
    SearchScreen #search-mode {
        width: 16;
    }
    SearchScreen #search-project {
        width: 24;
    }
    SearchScreen #search-literal {
        width: auto;
    }
    SearchScreen #search-status {
        height: auto;
        padding: 0 1;
        color: $foreground-muted;
    }
    SearchScreen #search-status.-error {
        color: $error;
    }
    SearchScreen #search-results {
        height: 1fr;
    }
    """

    def __init__(self, project_names: list[str]) -> None:
        super().__init__()
        self.project_names = list(project_names)
        self.hits: list[SearchHitRow] = []
        self.more_available = False
        self.project_paths: dict[str, str] = {}
        self.last_query = ""  # the query shown in the table; a changed option re-runs it
        self._last_result: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="≡")
        with Horizontal(id="search-bar"):
            yield Input(placeholder=PLACEHOLDERS["fulltext"], id="search-query")
            yield Select(
                [(mode, mode) for mode in SEARCH_MODES],
                value="fulltext",
                allow_blank=False,
                id="search-mode",
            )
            yield Select(
                [("all projects", ALL_PROJECTS)] + [(name, name) for name in self.project_names],
                value=ALL_PROJECTS,
                allow_blank=False,
                id="search-project",
            )
            yield Checkbox("literal", id="search-literal", compact=True)
        yield Label("type a query and press enter", id="search-status")
        yield DataTable(id="search-results", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = "search"
        self.query_one("#search-query", Input).focus()

    def set_project_names(self, project_names: list[str]) -> None:
        """Offer these projects; the chosen one stays chosen while it still exists."""
        if list(project_names) == self.project_names:
            return
        self.project_names = list(project_names)
        picker = self.query_one("#search-project", Select)
        chosen = picker.value
        picker.set_options(
            [("all projects", ALL_PROJECTS)] + [(name, name) for name in self.project_names]
        )
        picker.value = chosen if chosen in self.project_names else ALL_PROJECTS

    @on(Input.Submitted, "#search-query")
    def submit(self, event: Input.Submitted) -> None:
        query = event.value.strip()
        if not query:
            self._set_status("type a query first", error=True)
            return
        self.start_search(query)

    @on(Select.Changed, "#search-mode")
    def mode_changed(self, event: Select.Changed) -> None:
        self.query_one("#search-query", Input).placeholder = PLACEHOLDERS.get(
            str(event.value), PLACEHOLDERS["fulltext"]
        )
        self._rerun()

    @on(Select.Changed, "#search-project")
    @on(Checkbox.Changed, "#search-literal")
    def option_changed(self) -> None:
        self._rerun()

    def _rerun(self) -> None:
        # The table must never show results of options other than the ones on screen.
        if self.last_query:
            self.start_search(self.last_query)

    def start_search(self, query: str) -> None:
        """Search `query` with the mode, project and literal flag now chosen."""
        mode = str(self.query_one("#search-mode", Select).value)
        project = self.query_one("#search-project", Select).value
        literal = self.query_one("#search-literal", Checkbox).value
        self.last_query = query
        self._set_status(f"searching {mode} for {query!r}…")
        self.run_search(query, mode, None if project == ALL_PROJECTS else str(project), literal)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def run_search(
        self, query: str, mode: str, project: str | None, literal: bool = False
    ) -> dict[str, Any]:
        """Run the query off the event loop; a newer query cancels an older one's display.

        Asks for one hit more than it shows, to know whether more are available.
        """
        return api.search(
            query, mode=mode, project=project, limit=RESULT_LIMIT + 1, literal=literal
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "search":
            return
        if event.state == WorkerState.ERROR:
            self._set_status(f"search failed: {event.worker.error}", error=True)
        elif event.state == WorkerState.SUCCESS:
            self.show_results(event.worker.result)

    def show_results(self, result: dict[str, Any]) -> None:
        """Fill the table with the hits of one search result; columns sized for these hits."""
        hits = hits_from_result(result)
        self.more_available = len(hits) > RESULT_LIMIT
        self.hits = hits[:RESULT_LIMIT]
        self._last_result = result
        self._fill_table()
        cached = ", cached" if result.get("from_cache") else ""
        duration = result.get("duration_ms")
        took = f"{duration:.1f} ms" if isinstance(duration, int | float) else "time unknown"
        more = ", more available" if self.more_available else ""
        notes = result.get("notes") or []
        note = f" ({notes[0]})" if notes and isinstance(notes[0], str) else ""
        opens = "; enter opens the file" if self.hits else ""
        self._set_status(f"{len(self.hits)} result(s){more}{note}{opens} ({took}{cached})")
        if self.hits:
            self.query_one("#search-results", DataTable).focus()

    def _fill_table(self) -> None:
        table = self.query_one("#search-results", DataTable)
        table.clear(columns=True)
        show_project = len({hit.project for hit in self.hits}) > 1
        columns = result_columns(self.hits, table.size.width, show_project=show_project)
        for key, title, width in columns:
            table.add_column(title, key=key, width=width)
        widths = dict((key, width) for key, _title, width in columns)
        for index, hit in enumerate(self.hits):
            cells = {
                "score": f"{hit.score:.2f}",
                "project": shorten_left(hit.project, widths.get("project", 0)),
                "location": shorten_left(hit.location, widths["location"]),
                "text": hit.text[:200],
            }
            table.add_row(*(cells[key] for key, _title, _width in columns), key=str(index))

    def on_resize(self) -> None:
        if self.hits:
            self._fill_table()

    def _set_status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#search-status", Label)
        status.update(text)
        status.set_class(error, "-error")

    @on(DataTable.RowSelected, "#search-results")
    def open_row(self, event: DataTable.RowSelected) -> None:
        self._open(int(event.row_key.value or 0))

    def action_open_selected(self) -> None:
        """Open the file of the highlighted result."""
        table = self.query_one("#search-results", DataTable)
        if self.hits and 0 <= table.cursor_row < len(self.hits):
            self._open(table.cursor_row)

    def _open(self, index: int) -> None:
        hit = self.hits[index]
        self.app.push_screen(FileViewScreen(self.resolve_path(hit), hit.line))

    def resolve_path(self, hit: SearchHitRow) -> Path:
        """The hit's file on disk: absolute as given, else under its project's directory."""
        path = Path(hit.path)
        if path.is_absolute():
            return path
        if not self.project_paths:
            try:
                listing = api.list_projects()
            except Exception:  # noqa: BLE001 - without the listing the path stays relative
                listing = {}
            for project in listing.get("projects", []) if isinstance(listing, dict) else []:
                if isinstance(project, dict) and "name" in project and "path" in project:
                    self.project_paths[str(project["name"])] = str(project["path"])
        root = self.project_paths.get(hit.project)
        return Path(root) / path if root else path
