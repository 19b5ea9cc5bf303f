"""The eviction history: one row per eviction, newest first, added as they happen."""

from __future__ import annotations

from textual.widgets import DataTable

from engine.memory.status import EvictionRecord
from leindex_tui.widgets.formatting import format_clock_time

# Most important first: at 80 columns time, trigger, freed and projects show unscrolled.
COLUMNS = (
    ("time", "Time"),
    ("trigger", "Trigger"),
    ("freed", "Freed MB"),
    ("projects", "Projects"),
    ("target", "Target MB"),
    ("count", "Evicted"),
    ("candidates", "Candidates"),
)


def record_key(record: EvictionRecord) -> str:
    """A row key that stays the same for a record across snapshots."""
    return f"{record.timestamp!r}:{record.trigger}:{record.target_mb!r}"


class TimeCell(str):
    """A time cell that remembers its full timestamp, so rows sort exactly (not by HH:MM:SS)."""

    timestamp: float

    def __new__(cls, timestamp: float) -> TimeCell:
        cell = super().__new__(cls, format_clock_time(timestamp))
        cell.timestamp = timestamp
        return cell


def record_cells(record: EvictionRecord) -> tuple[str, ...]:
    """The cells of one history row, in column order."""
    return (
        TimeCell(record.timestamp),
        record.trigger,
        f"{record.freed_mb:.1f}",
        ", ".join(record.evicted_projects) or "—",
        f"{record.target_mb:.1f}",
        str(record.evicted_count),
        str(record.total_candidates),
    )


class EvictionTable(DataTable[str]):
    """Past evictions (time, trigger, target, freed, evicted count, candidates, projects)."""

    DEFAULT_CSS = """
    EvictionTable {
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        for key, title in COLUMNS:
            self.add_column(title, key=key)
        self._shown_keys: set[str] = set()

    def update_records(self, records: tuple[EvictionRecord, ...]) -> None:
        """Add the records not shown yet and drop those the history ring let go; never rebuild."""
        wanted = {record_key(record): record for record in records}
        added = False
        for key, record in wanted.items():
            if key not in self._shown_keys:
                self.add_row(*record_cells(record), key=key)
                self._shown_keys.add(key)
                added = True
        for key in self._shown_keys - wanted.keys():
            self.remove_row(key)
            self._shown_keys.discard(key)
        if added:
            self.sort("time", key=lambda cell: cell.timestamp, reverse=True)
