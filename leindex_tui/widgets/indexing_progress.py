"""A progress bar per project during its first indexing; hidden when nothing is indexing."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar

from engine.memory.status import ProjectSummary


class IndexingRow(Horizontal):
    """One project's name and its indexing progress bar."""

    DEFAULT_CSS = """
    IndexingRow {
        height: 1;
    }
    IndexingRow > Label {
        width: 24;
    }
    """

    def __init__(self, project: ProjectSummary) -> None:
        super().__init__()
        self.project_name = project.name
        self._first = project

    def compose(self) -> ComposeResult:
        yield Label(f"indexing {self.project_name}", markup=False)
        yield ProgressBar(total=None, show_eta=False)

    def on_mount(self) -> None:
        self.update_project(self._first)

    def update_project(self, project: ProjectSummary) -> None:
        """Move the bar to the project's files_done / files_total (indeterminate until known)."""
        bar = self.query_one(ProgressBar)
        if project.files_total > 0:
            bar.update(total=project.files_total, progress=project.files_done)


class IndexingProgress(Vertical):
    """Rows appear when a project starts its first index and go when it is ready."""

    DEFAULT_CSS = """
    IndexingProgress {
        height: auto;
        padding: 0 1;
    }
    IndexingProgress.-idle {
        display: none;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._rows: dict[str, IndexingRow] = {}
        self.add_class("-idle")

    def update_projects(self, projects: tuple[ProjectSummary, ...]) -> None:
        """Add, move or remove the bars so they match the projects still indexing."""
        indexing = {project.name: project for project in projects if not project.indexed}
        for name in [name for name in self._rows if name not in indexing]:
            self._rows.pop(name).remove()
        for name, project in indexing.items():
            row = self._rows.get(name)
            if row is None:
                row = IndexingRow(project)
                self._rows[name] = row
                self.mount(row)
            elif row.is_mounted:
                row.update_project(project)
        self.set_class(not self._rows, "-idle")
