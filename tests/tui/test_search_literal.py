"""The search screen's literal toggle reaches the API, and the response's note is shown."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Checkbox, Input, Label

from engine import api
from leindex_tui.screens.search import SearchScreen
from tests.tui.conftest import settle, status_app


async def test_literal_toggle_and_note(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def fake_search(query: str, **kwargs: Any) -> dict[str, Any]:
        calls.append({"query": query, **kwargs})
        return {"hits": [], "duration_ms": 1.0, "notes": ["searched as a literal string"]}

    monkeypatch.setattr(api, "search", fake_search)
    app = status_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SearchScreen)
        screen.query_one("#search-literal", Checkbox).value = True
        query = screen.query_one("#search-query", Input)
        query.value = "std::vector"
        query.focus()
        await pilot.press("enter")
        await settle(pilot)
        status = str(screen.query_one("#search-status", Label).render())
    assert calls and calls[-1]["literal"] is True and calls[-1]["query"] == "std::vector"
    assert "searched as a literal string" in status
