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

    def update_samples(self, samples: tuple[float, ...]) -> None:
        """Show `samples` (MB, oldest first, as the tracker recorded them); skip unchanged data."""
        if samples == self._samples:
            return
        self._samples = samples
        self.query_one(Sparkline).data = list(samples)
        if samples:
            # The tracker records on monitoring ticks and on status reads, so the samples are
            # not evenly spaced: the caption gives their count, not a time span.
            caption = (
                f"RSS, last {len(samples)} samples: {min(samples):.0f}–{format_mb(max(samples))}"
            )
        else:
            caption = "RSS history: no samples yet"
        self.query_one(Label).update(caption, layout=False)  # fixed size: repaint only
