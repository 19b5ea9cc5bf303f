"""The search screen: matched line and score on screen, options that re-run, state kept."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable, Input, Label, Select

from engine import api
from leindex_tui.screens.search import RESULT_LIMIT, SearchScreen
from tests.tui.conftest import settle, status_app


def hit(index: int, path: str = "engine/memory/manager.py", project: str = "core-api") -> dict:
    return {
        "project": project,
        "path": path,
        "line": index + 1,
        "text": f"def handler_{index}(): return MemoryManager()",
        "score": 10.0 - index * 0.01,
    }


class FakeSearch:
    """Stands in for api.search: records each call and answers with `hits_for(call)`."""

    def __init__(self, count: int = 2, path: str = "engine/memory/manager.py") -> None:
        self.calls: list[dict[str, Any]] = []
        self.count = count
        self.path = path

    def __call__(self, query: str, **options: Any) -> dict[str, Any]:
        self.calls.append({"query": query, **options})
        hits = [hit(i, self.path) for i in range(min(self.count, options["limit"]))]
        return {"hits": hits, "duration_ms": 1.0}


@pytest.fixture
def fake_search(monkeypatch: pytest.MonkeyPatch) -> FakeSearch:
    search = FakeSearch()
    monkeypatch.setattr(api, "search", search)
    return search


async def open_and_search(pilot, query: str = "MemoryManager") -> SearchScreen:
    await settle(pilot)
    await pilot.press("slash")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, SearchScreen)
    box = screen.query_one("#search-query", Input)
    box.value = query
    box.focus()
    await pilot.press("enter")
    await settle(pilot)
    return screen


def column_width(table: DataTable, key: str) -> int:
    return next(column.width for column in table.ordered_columns if column.key.value == key)


def status_text(screen: SearchScreen) -> str:
    return str(screen.query_one("#search-status", Label).render())


async def test_results_at_80_columns_show_score_location_and_the_matched_line(
    fake_search: FakeSearch,
) -> None:
    app = status_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_and_search(pilot)
        table = screen.query_one("#search-results", DataTable)
        titles = [str(column.label) for column in table.ordered_columns]
        assert titles == ["Score", "Location", "Matched line"]
        total = sum(column.get_render_width(table) for column in table.ordered_columns)
        assert total <= table.size.width
        assert table.get_row_at(0) == [
            "10.00",
            "engine/memory/manager.py:1",
            "def handler_0(): return MemoryManager()",
        ]


async def test_column_widths_are_recomputed_for_each_search(fake_search: FakeSearch) -> None:
    app = status_app()
    async with app.run_test(size=(120, 24)) as pilot:
        screen = await open_and_search(pilot)
        table = screen.query_one("#search-results", DataTable)
        long_width = column_width(table, "location")
        fake_search.path = "a.py"
        screen.start_search("again")
        await settle(pilot)
        short_width = column_width(table, "location")
        assert short_width < long_width


async def test_a_full_page_says_more_are_available(fake_search: FakeSearch) -> None:
    fake_search.count = RESULT_LIMIT + 10
    app = status_app()
    async with app.run_test(size=(100, 24)) as pilot:
        screen = await open_and_search(pilot)
        assert screen.query_one("#search-results", DataTable).row_count == RESULT_LIMIT
        assert f"{RESULT_LIMIT} result(s), more available" in status_text(screen)
        fake_search.count = RESULT_LIMIT
        screen.start_search("exactly a page")
        await settle(pilot)
        assert "more available" not in status_text(screen)


async def test_changing_the_mode_reruns_the_query_and_changes_the_placeholder(
    fake_search: FakeSearch,
) -> None:
    app = status_app()
    async with app.run_test(size=(100, 24)) as pilot:
        screen = await open_and_search(pilot)
        box = screen.query_one("#search-query", Input)
        fulltext_placeholder = box.placeholder
        screen.query_one("#search-mode", Select).value = "semantic"
        await settle(pilot)
        assert fake_search.calls[-1]["mode"] == "semantic"
        assert fake_search.calls[-1]["query"] == "MemoryManager"
        assert box.placeholder != fulltext_placeholder and "tantivy" not in box.placeholder


async def test_query_mode_and_project_are_kept_between_slash_presses(
    fake_search: FakeSearch,
) -> None:
    app = status_app()
    async with app.run_test(size=(100, 24)) as pilot:
        screen = await open_and_search(pilot)
        screen.query_one("#search-mode", Select).value = "hybrid"
        screen.query_one("#search-project", Select).value = "legacy-code"
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, SearchScreen)
        await pilot.press("slash")
        await settle(pilot)
        again = app.screen
        assert isinstance(again, SearchScreen)
        assert again.query_one("#search-query", Input).value == "MemoryManager"
        assert again.query_one("#search-mode", Select).value == "hybrid"
        assert again.query_one("#search-project", Select).value == "legacy-code"
        assert again.query_one("#search-results", DataTable).row_count == 2
