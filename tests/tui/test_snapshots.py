"""Pixel snapshots of each screen and state (hand-built statuses, UTC clock, fixed sizes).

Regenerate after an intended change: `.venv/bin/pytest tests/tui/test_snapshots.py
--snapshot-update`, then look at the SVGs before committing them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import TabbedContent, TextArea

from leindex_tui.screens.evict_modal import EvictModal
from leindex_tui.screens.search import SearchScreen
from tests.tui.conftest import settle, status_app
from tests.tui.status_factory import guide_eviction, make_status

SEARCH_RESULT = {
    "query": "ReloadManager",
    "mode": "hybrid",
    "from_cache": False,
    "duration_ms": 3.2,
    "hits": [
        {
            "project": "core-api",
            "path": "engine/config/reload.py",
            "line": 41,
            "text": "class ReloadManager:",
            "score": 12.1,
        },
        {
            "project": "core-api",
            "path": "engine/runtime.py",
            "line": 115,
            "text": "get_reload_manager().register_observer(self._observer)",
            "score": 7.4,
        },
    ],
}


def test_dashboard_normal(snap_compare) -> None:
    assert snap_compare(status_app(), run_before=settle, terminal_size=(80, 24))


def test_dashboard_at_hard_level(snap_compare) -> None:
    assert snap_compare(status_app(make_status("HARD")), run_before=settle, terminal_size=(80, 24))


def test_dashboard_wide_at_emergency(snap_compare) -> None:
    app = status_app(make_status("EMERGENCY"))
    assert snap_compare(app, run_before=settle, terminal_size=(160, 40))


def test_dashboard_after_an_eviction(snap_compare) -> None:
    app = status_app(make_status("SOFT", evictions=(guide_eviction(-10), guide_eviction(-600))))

    async def show_evictions(pilot: Pilot) -> None:
        await settle(pilot)
        app.log_line(
            "evict",
            "ok: evicted 163 entries from legacy-code, freed 498.0 MB (accounted)",
            freed_mb=512.3,
        )
        app.screen.query_one(TabbedContent).active = "tab-evictions"
        await settle(pilot)

    assert snap_compare(app, run_before=show_evictions, terminal_size=(100, 30))


def test_dashboard_light_theme(snap_compare) -> None:
    app = status_app(make_status("HARD"))

    async def go_light(pilot: Pilot) -> None:
        app.theme = "textual-light"
        await settle(pilot)

    assert snap_compare(app, run_before=go_light, terminal_size=(100, 30))


def test_evict_modal(snap_compare) -> None:
    app = status_app()

    async def open_modal(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, EvictModal)

    assert snap_compare(app, run_before=open_modal, terminal_size=(80, 30))


@pytest.fixture
def fixed_home(monkeypatch: pytest.MonkeyPatch) -> Path:
    """A LEINDEX_HOME at a fixed path: the editor shows the file's path, so it must not vary."""
    home = Path(tempfile.gettempdir()) / "leindex-tui-snapshot-home"
    shutil.rmtree(home, ignore_errors=True)
    monkeypatch.setenv("LEINDEX_HOME", str(home))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_config_editor_with_a_validation_error(snap_compare, fixed_home: Path) -> None:
    app = status_app()

    async def save_bad_yaml(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        editor = app.screen.query_one("#editor-text", TextArea)
        editor.load_text(
            "memory:\n  total_budget_mb: 3072\n  soft_limit_percent: 0.95\n"
            "  hard_limit_percent: 0.93\n"
        )
        await pilot.press("ctrl+s")
        await settle(pilot)

    assert snap_compare(app, run_before=save_bad_yaml, terminal_size=(100, 24))


def test_search_screen_with_results(snap_compare) -> None:
    app = status_app()

    async def search(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        screen.query_one("#search-query").value = "ReloadManager"
        screen.show_results(SEARCH_RESULT)
        await settle(pilot)

    assert snap_compare(app, run_before=search, terminal_size=(100, 24))


def test_help_screen(snap_compare) -> None:
    async def open_help(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(status_app(), run_before=open_help, terminal_size=(100, 30))


SIZES = pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])


@SIZES
def test_dashboard_at_size(snap_compare, size: tuple[int, int]) -> None:
    app = status_app(make_status("SOFT", evictions=(guide_eviction(-10),)))

    async def with_a_log_line(pilot: Pilot) -> None:
        await settle(pilot)
        app.log_line(
            "spill", "spilled 12 entries from core-api, freed 3.2 MB (accounted)", freed_mb=2.9
        )
        await settle(pilot)

    assert snap_compare(app, run_before=with_a_log_line, terminal_size=size)


@SIZES
def test_search_screen_with_results_at_size(snap_compare, size: tuple[int, int]) -> None:
    app = status_app()

    async def search(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        screen.query_one("#search-query").value = "ReloadManager"
        screen.show_results(SEARCH_RESULT)
        await settle(pilot)

    assert snap_compare(app, run_before=search, terminal_size=size)


@SIZES
def test_config_editor_at_size(snap_compare, fixed_home: Path, size: tuple[int, int]) -> None:
    app = status_app()

    async def open_editor(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)

    assert snap_compare(app, run_before=open_editor, terminal_size=size)
