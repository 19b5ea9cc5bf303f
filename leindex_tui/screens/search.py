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
        height: 1;
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
        self.project_names = project_names
        self.hits: list[SearchHitRow] = []
        self.project_paths: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="≡")
        with Horizontal(id="search-bar"):
            yield Input(placeholder="search (tantivy syntax in fulltext mode)", id="search-query")
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
        table: DataTable[str] = DataTable(
            id="search-results", cursor_type="row", zebra_stripes=True
        )
        table.add_column("Project", key="project")
        table.add_column("Location", key="location")
        table.add_column("Line", key="text")
        yield table
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = "search"
        self.query_one("#search-query", Input).focus()

    @on(Input.Submitted, "#search-query")
    def submit(self, event: Input.Submitted) -> None:
        query = event.value.strip()
        if not query:
            self._set_status("type a query first", error=True)
            return
        mode = str(self.query_one("#search-mode", Select).value)
        project = self.query_one("#search-project", Select).value
        literal = self.query_one("#search-literal", Checkbox).value
        self._set_status(f"searching {mode} for {query!r}…")
        self.run_search(query, mode, None if project == ALL_PROJECTS else str(project), literal)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def run_search(
        self, query: str, mode: str, project: str | None, literal: bool = False
    ) -> dict[str, Any]:
        """Run the query off the event loop; a newer query cancels an older one's display."""
        return api.search(query, mode=mode, project=project, limit=RESULT_LIMIT, literal=literal)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "search":
            return
        if event.state == WorkerState.ERROR:
            self._set_status(f"search failed: {event.worker.error}", error=True)
        elif event.state == WorkerState.SUCCESS:
            self.show_results(event.worker.result)

    def show_results(self, result: dict[str, Any]) -> None:
        """Fill the table with the hits of one search result."""
        self.hits = hits_from_result(result)
        table = self.query_one("#search-results", DataTable)
        table.clear()
        for index, hit in enumerate(self.hits):
            table.add_row(hit.project, hit.location, hit.text[:200], key=str(index))
        cached = " (cached)" if result.get("from_cache") else ""
        duration = result.get("duration_ms")
        took = f" in {duration:.1f} ms" if isinstance(duration, int | float) else ""
        notes = result.get("notes") or []
        note = f" ({notes[0]})" if notes and isinstance(notes[0], str) else ""
        self._set_status(f"{len(self.hits)} result(s){took}{cached}{note}; enter opens the file")
        if self.hits:
            table.focus()

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
