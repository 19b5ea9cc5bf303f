"""The RSS history sparkline with its range, so the shape has a scale."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Label, Sparkline

from leindex_tui.widgets.formatting import format_mb


class RssHistory(Widget):
    """A sparkline of recent RSS samples and a caption with min, max and the sample count."""

    DEFAULT_CSS = """
    RssHistory {
        height: 2;
        padding: 0 1;
    }
    RssHistory > Label {
        color: $foreground-muted;
        width: 1fr;
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    RssHistory > Sparkline {
        height: 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._samples: tuple[float, ...] = ()

    def compose(self) -> ComposeResult:
        yield Label("RSS history: no samples yet")
        yield Sparkline([])

    def update_samples(self, samples: tuple[float, ...], interval_seconds: float) -> None:
        """Show `samples` (MB, oldest first, `interval_seconds` apart); skip unchanged data."""
        if samples == self._samples:
            return
        self._samples = samples
        self.query_one(Sparkline).data = list(samples)
        if samples:
            span = len(samples) * interval_seconds
            span_text = f"{span / 60:.0f} min" if span >= 120 else f"{span:.0f} s"
            caption = f"RSS {span_text}: {min(samples):.0f}–{format_mb(max(samples))}"
        else:
            caption = "RSS history: no samples yet"
        self.query_one(Label).update(caption)
