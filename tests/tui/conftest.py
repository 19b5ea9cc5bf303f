"""TUI fixtures: a fixed clock and time zone, a stand-in runtime, and a settled pilot."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from engine.memory.status import DashboardStatus
from leindex_tui.app import LeIndexApp
from tests.tui.status_factory import BASE_TIME, make_status


@pytest.fixture(autouse=True)
def utc_clock_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Times in tables and logs render in UTC, so snapshots match on any machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


class StubRuntime:
    """Stands in for engine.runtime.Runtime where a test feeds hand-built statuses."""

    memory_manager = None

    def __init__(self) -> None:
        self.started = False
        self.shutdown_calls = 0

    def start(self) -> StubRuntime:
        self.started = True
        return self

    def shutdown(self) -> None:
        self.shutdown_calls += 1


class StatusFeed:
    """The status a test's app reads on each refresh; tests change `status` to move it."""

    def __init__(self, status: DashboardStatus) -> None:
        self.status = status

    def __call__(self) -> DashboardStatus:
        return self.status


def status_app(status: DashboardStatus | None = None, **options: Any) -> LeIndexApp:
    """The real app over a stand-in runtime, showing `status` (the guide's NORMAL by default)."""
    feed = StatusFeed(status or make_status())
    app = LeIndexApp(
        runtime=StubRuntime(),
        status_source=feed,
        clock=lambda: BASE_TIME,
        refresh_seconds=3600,  # tests refresh explicitly: no tick may land mid-snapshot
        **options,
    )
    app.status_feed = feed  # type: ignore[attr-defined]
    return app


async def settle(pilot: Pilot) -> None:
    """Wait for workers and pending messages, and stop cursors blinking (stable pixels)."""
    app = pilot.app
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()
    for widget in app.screen.query(Input):
        widget.cursor_blink = False
    for widget in app.screen.query(TextArea):
        widget.cursor_blink = False
    await pilot.pause()


async def wait_until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Pause until `condition()` holds; fail the test after `timeout` seconds of waiting."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {condition}")
        await pilot.pause(0.05)


def write_weighty_corpus(root: Path, files: int = 24, lines_per_file: int = 1500) -> Path:
    """A generated project whose files are big enough (~60 KB each) that caching them moves the
    dashboard's MB figures (shown to 0.1 MB); every file mentions `needle_token`."""
    for index in range(files):
        path = root / "pkg" / f"module_{index:02d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(
            f"def handler_{index}_{line}(value):  # needle_token filler line {line}\n"
            for line in range(lines_per_file)
        )
        path.write_text(body, encoding="utf-8")
    return root


@pytest.fixture
def weighty_corpus(tmp_path: Path) -> Path:
    """See `write_weighty_corpus`."""
    return write_weighty_corpus(tmp_path / "weighty")
