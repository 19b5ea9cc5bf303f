"""The budget bar: current RSS against the budget, with the soft/hard/emergency marks."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from engine.memory.status import DashboardStatus
from leindex_tui.widgets.formatting import format_mb, percent_text

LEVELS = ("NORMAL", "SOFT", "HARD", "EMERGENCY")
_FILL = "█"
_EMPTY = "░"
_MARK = "┃"


@dataclass(frozen=True)
class ThresholdReading:
    """What the gauge draws; equal readings do not repaint."""

    current_mb: float
    peak_mb: float
    budget_mb: float
    soft_percent: float
    hard_percent: float
    emergency_percent: float
    soft_mb: float
    hard_mb: float
    emergency_mb: float
    level: str

    @classmethod
    def from_status(cls, status: DashboardStatus) -> ThresholdReading:
        """Take the gauge's fields from one dashboard snapshot."""
        return cls(
            current_mb=status.current_mb,
            peak_mb=status.peak_mb,
            budget_mb=status.budget_mb,
            soft_percent=status.soft_limit_percent,
            hard_percent=status.hard_limit_percent,
            emergency_percent=status.emergency_percent,
            soft_mb=status.soft_limit_mb,
            hard_mb=status.hard_limit_mb,
            emergency_mb=status.emergency_limit_mb,
            level=status.level if status.level in LEVELS else "NORMAL",
        )

    @property
    def used_fraction(self) -> float:
        return self.current_mb / self.budget_mb if self.budget_mb > 0 else 0.0


def mark_columns(fractions: list[float], width: int) -> list[int]:
    """Bar columns of the marks: in order, never two on the same cell while the bar has room."""
    columns: list[int] = []
    for fraction in fractions:
        column = min(width - 1, max(0, int(fraction * width)))
        if columns and column <= columns[-1] and columns[-1] + 1 < width:
            column = columns[-1] + 1
        columns.append(column)
    return columns


def place_labels(labels: list[str], columns: list[int], width: int) -> list[list[tuple[int, str]]]:
    """Put each label under its mark, ending at the mark; a label that would overlap the one
    before goes to the next line, so close percents (93 %, 98 %) stay readable on narrow bars."""
    lines: list[list[tuple[int, str]]] = [[]]
    for label, column in zip(labels, columns, strict=True):
        start = max(0, min(column - len(label) + 1, width - len(label)))
        for line in lines:
            if not line or line[-1][0] + len(line[-1][1]) < start:
                line.append((start, label))
                break
        else:
            lines.append([(start, label)])
    return lines


class ThresholdGauge(Widget):
    """Current memory against the budget, with a mark at each configured threshold."""

    COMPONENT_CLASSES = {
        "threshold-gauge--normal",
        "threshold-gauge--soft",
        "threshold-gauge--hard",
        "threshold-gauge--emergency",
        "threshold-gauge--empty",
        "threshold-gauge--mark",
        "threshold-gauge--label",
    }

    DEFAULT_CSS = """
    ThresholdGauge {
        height: auto;
        min-height: 4;
        padding: 0 1;
    }
    ThresholdGauge > .threshold-gauge--normal { color: $success; }
    ThresholdGauge > .threshold-gauge--soft { color: $warning; }
    ThresholdGauge > .threshold-gauge--hard { color: $error; }
    ThresholdGauge > .threshold-gauge--emergency { color: $error; text-style: bold; }
    ThresholdGauge > .threshold-gauge--empty { color: $foreground 25%; }
    ThresholdGauge > .threshold-gauge--mark { color: $foreground; text-style: bold; }
    ThresholdGauge > .threshold-gauge--label { color: $foreground-muted; }
    """

    # No layout on every change: the height only changes with the marks (see watch_reading).
    reading: reactive[ThresholdReading | None] = reactive(None)

    def update_from(self, status: DashboardStatus) -> None:
        """Take the latest snapshot; repaints only when a drawn value changed."""
        self.reading = ThresholdReading.from_status(status)

    def watch_reading(self, old: ThresholdReading | None, new: ThresholdReading | None) -> None:
        old_level = old.level if old else None
        new_level = new.level if new else None
        old_marks = old and (old.soft_percent, old.hard_percent, old.emergency_percent)
        new_marks = new and (new.soft_percent, new.hard_percent, new.emergency_percent)
        if old_marks != new_marks:
            # Moved marks may need another label line: only then is a layout worth its cost.
            self.refresh(layout=True)
        if old_level != new_level:
            if old_level:
                self.remove_class(f"-level-{old_level.lower()}")
            if new_level:
                self.add_class(f"-level-{new_level.lower()}")

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines(max(10, width)))

    def render(self) -> Text:
        return Text("\n").join(self._lines(max(10, self.content_size.width)))

    def _lines(self, width: int) -> list[Text]:
        reading = self.reading
        if reading is None:
            return [Text("waiting for the first memory reading…")]
        level_style = self.get_component_rich_style(f"threshold-gauge--{reading.level.lower()}")
        label_style = self.get_component_rich_style("threshold-gauge--label")
        headline = Text.assemble(
            (format_mb(reading.current_mb), "bold"),
            f" / {format_mb(reading.budget_mb)}  ",
            (f"{reading.used_fraction * 100:.0f}%", "bold"),
            "  ",
            (reading.level, level_style),
        )
        peak = f"  peak {format_mb(reading.peak_mb)}"
        if len(headline) + len(peak) <= width:
            headline.append(peak, label_style)
        headline.truncate(width)
        marks = [reading.soft_percent, reading.hard_percent, reading.emergency_percent]
        columns = mark_columns(marks, width)
        label_lines = [
            self._label_line(line, width, label_style)
            for line in place_labels([percent_text(p) for p in marks], columns, width)
        ]
        legend = Text(self._legend(reading, width), style=label_style)
        legend.truncate(width)
        return [headline, self._bar(reading, columns, width, level_style), *label_lines, legend]

    @staticmethod
    def _legend(reading: ThresholdReading, width: int) -> str:
        """The limits in MB, spelled out when there is room, compact when there is not."""
        full = (
            f"soft {format_mb(reading.soft_mb)} · hard {format_mb(reading.hard_mb)}"
            f" · emergency {format_mb(reading.emergency_mb)}"
        )
        if len(full) <= width:
            return full
        return (
            f"soft/hard/emerg {reading.soft_mb:.0f}/{reading.hard_mb:.0f}"
            f"/{reading.emergency_mb:.0f} MB"
        )

    def _bar(self, reading: ThresholdReading, columns: list[int], width: int, fill: Style) -> Text:
        empty = self.get_component_rich_style("threshold-gauge--empty")
        mark = self.get_component_rich_style("threshold-gauge--mark")
        filled_cells = round(min(1.0, max(0.0, reading.used_fraction)) * width)
        bar = Text()
        for column in range(width):
            is_filled = column < filled_cells
            if column in columns:
                under = Style(bgcolor=fill.color) if is_filled else Style()
                bar.append(_MARK, under + mark)
            else:
                bar.append(_FILL if is_filled else _EMPTY, fill if is_filled else empty)
        return bar

    @staticmethod
    def _label_line(placed: list[tuple[int, str]], width: int, style: Style) -> Text:
        line = Text(style=style)
        cursor = 0
        for start, label in placed:
            line.append(" " * (start - cursor))
            line.append(label)
            cursor = start + len(label)
        line.append(" " * max(0, width - cursor))
        return line
