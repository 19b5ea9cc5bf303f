"""The evict dialog proposes a target the process can free and explains what it refuses."""

from __future__ import annotations

from textual.widgets import Input, Label, Select

from leindex_tui.screens.evict_modal import EvictModal, EvictRequest
from tests.tui.conftest import settle, status_app
from tests.tui.status_factory import make_status

PRIORITIES = {"core-api": "HIGH", "legacy-code": "LOW"}


async def open_modal(pilot, priorities=PRIORITIES, current_mb: float = 20.0, results=None):
    await settle(pilot)
    pilot.app.push_screen(EvictModal(priorities, current_mb), (results or []).append)
    await settle(pilot)
    assert isinstance(pilot.app.screen, EvictModal)
    return pilot.app.screen


def error_text(modal: EvictModal) -> str:
    return str(modal.query_one("#evict-error", Label).content)


async def test_the_default_target_is_a_share_of_the_current_rss_not_of_the_budget() -> None:
    app = status_app(make_status(current_mb=20.0))
    async with app.run_test(size=(80, 30)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, EvictModal)
        target = float(modal.query_one("#evict-target", Input).value)
        assert 0 < target <= 20.0 * 0.5
        assert target != round(3072 * 0.15)


async def test_a_target_above_the_current_rss_is_rejected_with_the_rss() -> None:
    app = status_app()
    results: list[EvictRequest | None] = []
    async with app.run_test(size=(80, 30)) as pilot:
        modal = await open_modal(pilot, results=results)
        modal.query_one("#evict-target", Input).value = "461"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EvictModal) and results == []
        assert "more than the process holds now" in error_text(modal)
        assert "20 MB" in error_text(modal)


async def test_a_threshold_below_every_project_says_which_priorities_are_in_the_way() -> None:
    app = status_app()
    async with app.run_test(size=(80, 30)) as pilot:
        modal = await open_modal(pilot, priorities={"engine": "MEDIUM", "api": "HIGH"})
        assert modal.query_one("#evict-priority", Select).value == "MEDIUM"  # reaches engine
        modal.query_one("#evict-priority", Select).value = "LOW"
        modal.query_one("#evict-target", Input).value = "5"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, EvictModal)
        message = error_text(modal)
        assert "no project at or below priority LOW" in message
        assert "engine is MEDIUM" in message and "api is HIGH" in message


async def test_fixing_the_input_clears_its_old_error() -> None:
    app = status_app()
    async with app.run_test(size=(80, 30)) as pilot:
        modal = await open_modal(pilot)
        target = modal.query_one("#evict-target", Input)
        target.value = "abc"
        await pilot.press("enter")
        await settle(pilot)
        assert "must be a number" in error_text(modal)
        target.value = "5"
        await settle(pilot)
        assert error_text(modal) == ""
