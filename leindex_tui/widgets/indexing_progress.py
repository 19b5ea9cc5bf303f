"""A progress row per project during its first indexing: name, files, MB, phase, rate, ETA."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Label, ProgressBar

from engine.memory.status import ProjectSummary
from leindex_tui.widgets.formatting import format_mb

# A finished row stays this long (status clock seconds) saying it is done, so a quick first
# index does not flash "0%" and vanish before anyone can read it; with a clock that stands
# still (an injected one), it goes after this many readings instead.
DONE_LINGER_SECONDS = 5.0
DONE_LINGER_READINGS = 5
# The rate is estimated only over at least this much time, so one tick's noise is not shown.
MIN_RATE_WINDOW_SECONDS = 1.0
PHASE_TEXT = {
    "pending": "waiting to start",
    "scanning": "scanning: counting files",
    "indexing": "indexing",
    "error": "failed",
}
# The indexer makes every file searchable in full-text first, then embeds it.
STAGE_TEXT = {
    "full-text": "stage 1/2 full-text (searchable as it goes)",
    "semantic": "stage 2/2 semantic vectors",
}


@dataclass(frozen=True)
class Sample:
    """One reading of a project's progress, at status clock time `at`."""

    at: float
    files_done: int


def format_duration(seconds: float) -> str:
    """'8 s', '3 min', '1 h 5 min'."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds // 3600:.0f} h {(seconds % 3600) / 60:.0f} min"


def estimated_rate(first: Sample, last: Sample) -> float | None:
    """Files per second between two readings; None until there is enough to estimate."""
    elapsed = last.at - first.at
    done = last.files_done - first.files_done
    if elapsed < MIN_RATE_WINDOW_SECONDS or done <= 0:
        return None
    return done / elapsed


def progress_details(project: ProjectSummary, rate: float | None) -> str:
    """'120/400 files · 3.2 MB · stage 1/2 full-text · ≈40 files/s · ETA ≈7 s'."""
    if project.indexed:
        return f"done: {project.files_total or project.files_done} files, " + format_mb(
            project.bytes_done / (1024 * 1024)
        )
    phase = PHASE_TEXT.get(project.phase, project.phase or "starting")
    if project.phase == "indexing" and project.stage:
        phase = STAGE_TEXT.get(project.stage, project.stage)
    if project.paused:
        phase += f" · paused: {project.paused}"
    if project.files_total <= 0:
        return phase
    parts = [
        f"{project.files_done}/{project.files_total} files",
        format_mb(project.bytes_done / (1024 * 1024)),
        phase,
    ]
    if rate is not None:
        remaining = max(0, project.files_total - project.files_done)
        # Estimates, from the readings this widget saw: the "≈" says so.
        parts.append(f"≈{rate:.0f} files/s" if rate >= 1 else f"≈{rate:.1f} files/s")
        parts.append(f"ETA ≈{format_duration(remaining / rate)}")
    return " · ".join(parts)


class IndexingRow(Vertical):
    """One project: its name and bar on the first line, the figures on the second."""

    DEFAULT_CSS = """
    IndexingRow {
        height: 2;
    }
    IndexingRow > Horizontal {
        height: 1;
    }
    IndexingRow .indexing-name {
        width: auto;
        max-width: 40;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        padding-right: 1;
        text-style: bold;
    }
    IndexingRow ProgressBar.-unknown {
        display: none;
    }
    IndexingRow .indexing-details {
        color: $foreground-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, project: ProjectSummary, now: float) -> None:
        super().__init__()
        self.project_name = project.name
        self._first = project
        self._samples = [Sample(now, project.files_done)]
        self.finished_at: float | None = None
        self.readings_since_done = 0
        self.details = ""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(f"indexing {self.project_name}", markup=False, classes="indexing-name")
            yield ProgressBar(total=None, show_eta=False)
        yield Label("", markup=False, classes="indexing-details")

    def on_mount(self) -> None:
        self.update_project(self._first, self._samples[-1].at)

    def update_project(self, project: ProjectSummary, now: float) -> None:
        """Move the bar and the figures to this reading (taken at status clock `now`)."""
        if project.stage != self._first.stage:
            self._samples = [Sample(now, project.files_done)]  # a new stage counts from 0
        self._first = project  # the latest reading, painted on mount if it comes first
        if self._samples[-1].at != now:
            self._samples.append(Sample(now, project.files_done))
        rate = estimated_rate(self._samples[0], self._samples[-1])
        if project.indexed:
            if self.finished_at is None:
                self.finished_at = now
            else:
                self.readings_since_done += 1
        self.details = progress_details(project, rate)
        try:
            bar = self.query_one(ProgressBar)
        except NoMatches:
            return  # not composed yet: on_mount paints this reading

        known = project.files_total > 0 or project.indexed
        bar.set_class(not known, "-unknown")
        if project.indexed:
            total = max(project.files_total, project.files_done, 1)
            bar.update(total=total, progress=total)
        elif project.files_total > 0:
            bar.update(total=project.files_total, progress=project.files_done)
        name = "indexed" if project.indexed else "indexing"
        self.query_one(".indexing-name", Label).update(f"{name} {self.project_name}")
        self.query_one(".indexing-details", Label).update(self.details)


class IndexingProgress(Vertical):
    """Rows appear when a project starts its first index and go a moment after it is ready."""

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
        self.rows: dict[str, IndexingRow] = {}
        self.add_class("-idle")

    def update_projects(self, projects: tuple[ProjectSummary, ...], now: float) -> None:
        """Add, move or retire the rows so they follow the projects' first indexing."""
        by_name = {project.name: project for project in projects}
        for name, row in list(self.rows.items()):
            project = by_name.get(name)
            gone = project is None
            done_long_enough = row.finished_at is not None and (
                now - row.finished_at >= DONE_LINGER_SECONDS
                or row.readings_since_done >= DONE_LINGER_READINGS
            )
            if gone or done_long_enough:
                self.rows.pop(name).remove()
        for name, project in by_name.items():
            row = self.rows.get(name)
            if row is None:
                if project.indexed:
                    continue  # indexed before this dashboard saw it: nothing to report
                row = IndexingRow(project, now)
                self.rows[name] = row
                self.mount(row)
            else:
                row.update_project(project, now)
        self.set_class(not self.rows, "-idle")
