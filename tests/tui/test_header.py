"""The header's status line: what the dashboard must keep saying while it holds."""

from __future__ import annotations

from tests.tui.conftest import settle, status_app
from tests.tui.status_factory import make_status


async def test_a_budget_below_the_floor_stays_in_the_header() -> None:
    note = "memory budget 100 MB is too small: the engine's floor (99.0 MB, ...)"
    app = status_app(make_status(level="EMERGENCY", floor_note=note))
    async with app.run_test(size=(200, 50)) as pilot:
        app.refresh_status()
        await settle(pilot)
        assert "too small: the engine's floor" in app.sub_title
