"""Loaded files, cached queries and spilled data against their configured caps."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from engine.memory.status import DashboardStatus

_FILL = "█"
_EMPTY = "░"
_NAME_WIDTH = 8


@dataclass(frozen=True)
class CapsReading:
    """Counts and caps drawn by the gauge; equal readings do not repaint."""

    loaded_files: int
    max_loaded_files: int
    cached_queries: int
    max_cached_queries: int
    spilled_mb: float
    max_spill_mb: float

    @classmethod
    def from_status(cls, status: DashboardStatus) -> CapsReading:
        """Take the caps' fields from one dashboard snapshot."""
        return cls(
            loaded_files=status.loaded_files,
            max_loaded_files=status.max_loaded_files,
            cached_queries=status.cached_queries,
            max_cached_queries=status.max_cached_queries,
            spilled_mb=status.spilled_mb,
            max_spill_mb=status.max_spill_mb,
        )


class CapsGauge(Widget):
    """One bar per cache cap: files, queries, spill; coloured by how full each one is."""

    COMPONENT_CLASSES = {
        "caps-gauge--ok",
        "caps-gauge--near",
        "caps-gauge--full",
        "caps-gauge--empty",
        "caps-gauge--name",
    }

    DEFAULT_CSS = """
    CapsGauge {
        height: 3;
        padding: 0 1;
    }
    CapsGauge > .caps-gauge--ok { color: $success; }
    CapsGauge > .caps-gauge--near { color: $warning; }
    CapsGauge > .caps-gauge--full { color: $error; }
    CapsGauge > .caps-gauge--empty { color: $foreground 25%; }
    CapsGauge > .caps-gauge--name { color: $foreground-muted; }
    """

    reading: reactive[CapsReading | None] = reactive(None)

    def update_from(self, status: DashboardStatus) -> None:
        """Take the latest snapshot; repaints only when a count or cap changed."""
        self.reading = CapsReading.from_status(status)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 3

    def render(self) -> Text:
        reading = self.reading
        if reading is None:
            return Text("")
        width = max(20, self.content_size.width)
        rows = [
            ("files", reading.loaded_files, reading.max_loaded_files, ""),
            ("queries", reading.cached_queries, reading.max_cached_queries, ""),
            ("spill", reading.spilled_mb, reading.max_spill_mb, " MB"),
        ]
        return Text("\n").join(self._row(*row, width=width) for row in rows)

    def _row(self, name: str, value: float, cap: float, unit: str, width: int) -> Text:
        figures = f" {value:.0f}/{cap:.0f}{unit}"
        bar_width = max(4, width - _NAME_WIDTH - len(figures))
        fraction = value / cap if cap > 0 else 0.0
        state = "full" if fraction >= 1.0 else "near" if fraction >= 0.8 else "ok"
        fill = self.get_component_rich_style(f"caps-gauge--{state}")
        filled = round(min(1.0, max(0.0, fraction)) * bar_width)
        return Text.assemble(
            (name.ljust(_NAME_WIDTH), self.get_component_rich_style("caps-gauge--name")),
            (_FILL * filled, fill),
            (_EMPTY * (bar_width - filled), self.get_component_rich_style("caps-gauge--empty")),
            figures,
        )
