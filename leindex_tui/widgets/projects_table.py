"""The projects: priority, cache use and last access, with the priority changeable in place."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from engine.memory.status import ProjectSummary
from engine.priority import ProjectPriority
from leindex_tui.widgets.formatting import format_age

# Most important first: at 80 columns the first five are what shows without scrolling.
COLUMNS = (
    ("name", "Project"),
    ("priority", "Priority"),
    ("index", "State"),
    ("files", "Files"),
    ("mb", "MB"),
    ("vectors", "Vectors"),
    ("cached", "Cached files"),
    ("queries", "Queries"),
    ("last", "Last access"),
)


def next_priority(name: str) -> str:
    """The priority after `name` in LOW → MEDIUM → HIGH → CRITICAL → LOW."""
    try:
        current = ProjectPriority.from_name(name)
    except ValueError:
        return ProjectPriority.MEDIUM.name
    members = list(ProjectPriority)
    return members[(members.index(current) + 1) % len(members)].name


def index_state(project: ProjectSummary) -> str:
    """'ready', or the first indexing's progress."""
    if project.indexed:
        return "ready"
    if project.files_total > 0:
        return f"{project.files_done / project.files_total * 100:.0f}%"
    return "starting"


def vectors_state(project: ProjectSummary) -> str:
    """Where an indexed project's vectors are: 'in memory', or 'on disk' (not loaded since
    the start, or unloaded by an eviction: the next semantic search loads them if the budget
    has room); and how many files have none yet (the budget had no room for them, or they
    changed since: semantic search does not find them)."""
    if not project.indexed:
        return "–"
    where = "in memory" if project.vectors_loaded else "on disk"
    if project.vectors_pending:
        return f"{where}, {project.vectors_pending} not embedded"
    return where


def project_cells(project: ProjectSummary, now: float) -> tuple[str, ...]:
    """The cells of one project row, in column order: files in the index (once indexed), MB
    the engine accounts to the project in memory, files held in its content cache."""
    return (
        project.name,
        project.priority,
        index_state(project),
        str(project.files_total) if project.indexed else "–",
        f"{project.memory_mb:.1f}",
        vectors_state(project),
        str(project.loaded_files),
        str(project.cached_queries),
        format_age(now, project.last_accessed),
    )


class ProjectsTable(DataTable[str]):
    """One row per project; cells update in place; `p` cycles the selected project's priority."""

    BINDINGS = [Binding("p", "cycle_priority", "Priority")]

    DEFAULT_CSS = """
    ProjectsTable {
        height: 1fr;
    }
    """

    @dataclass
    class PriorityChangeRequested(Message):
        """The user asked to set `project`'s priority to `priority` (a ProjectPriority name)."""

        project: str
        priority: str

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        for key, title in COLUMNS:
            self.add_column(title, key=key)
        self._cells_by_name: dict[str, tuple[str, ...]] = {}

    def update_projects(self, projects: tuple[ProjectSummary, ...], now: float) -> None:
        """Show `projects` as of clock time `now`: changed cells only; rows keyed by name."""
        wanted = {project.name: project for project in projects}
        for name in [name for name in self._cells_by_name if name not in wanted]:
            self.remove_row(name)
            del self._cells_by_name[name]
        for name, project in wanted.items():
            cells = project_cells(project, now)
            shown = self._cells_by_name.get(name)
            if shown is None:
                self.add_row(*cells, key=name)
            else:
                for (column, _title), old, new in zip(COLUMNS, shown, cells, strict=True):
                    if old != new:
                        # Widen the column only when the text grew ("on disk" → "in memory").
                        self.update_cell(name, column, new, update_width=len(new) > len(old))
            self._cells_by_name[name] = cells

    def selected_project(self) -> str | None:
        """The name of the project under the cursor, if any."""
        if not self._cells_by_name or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key((self.cursor_row, 0))
        return row_key.value

    def action_cycle_priority(self) -> None:
        """Ask for the next priority of the selected project (the app applies it via the API)."""
        name = self.selected_project()
        if name is None:
            return
        self.post_message(
            self.PriorityChangeRequested(name, next_priority(self._cells_by_name[name][1]))
        )
