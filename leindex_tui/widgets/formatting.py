"""Number and time formats shared by the dashboard widgets, so every pane reads the same way."""

from __future__ import annotations

import time


def format_mb(mb: float) -> str:
    """Megabytes as the guide writes them: whole MB from 10 MB up, one decimal below."""
    if abs(mb) >= 10:
        return f"{mb:.0f} MB"
    return f"{mb:.1f} MB"


def format_clock_time(timestamp: float) -> str:
    """A clock timestamp (seconds since the epoch) as local HH:MM:SS."""
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


def format_age(now: float, then: float) -> str:
    """How long ago `then` was, relative to `now` (both clock seconds): 'just now', '3m ago'.

    Minute granularity on purpose: a per-second age would change a table cell on every tick
    and make the table repaint all its lines each second for nothing anyone reads.
    """
    if then <= 0:
        return "never"
    seconds = max(0.0, now - then)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f}h ago"
    return f"{seconds // 86400:.0f}d ago"


def percent_text(fraction: float) -> str:
    """A fraction (0.8) as a percent label ('80%'); keeps one decimal only when it matters."""
    value = fraction * 100
    if abs(value - round(value)) < 0.05:
        return f"{value:.0f}%"
    return f"{value:.1f}%"
