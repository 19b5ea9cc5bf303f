"""The Log pane: every word stays readable at any width, and figures say what they are."""

from __future__ import annotations

import pytest
from textual.widgets import TabbedContent

from leindex_tui.widgets.action_log import ActionLog, describe_result
from tests.tui.conftest import settle, status_app

LONG_RESULT = (
    "ok: evicted 163 entries from legacy-code, temp-analysis, freed 498.0 MB (accounted) "
    "of 500.0 MB asked; 3 candidates, total candidates considered in policy order"
)


async def show_log(pilot, size: tuple[int, int]) -> ActionLog:
    app = pilot.app
    await settle(pilot)
    app.dashboard.query_one(TabbedContent).active = "tab-log"
    app.log_line("evict", LONG_RESULT, freed_mb=512.3)
    await settle(pilot)
    return app.dashboard.action_log


def words_of(lines: list[str]) -> list[str]:
    return " ".join(lines).split()


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_log_lines_wrap_to_the_pane_and_lose_no_word(size: tuple[int, int]) -> None:
    app = status_app()
    async with app.run_test(size=size) as pilot:
        log = await show_log(pilot, size)
        width = log.scrollable_content_region.width
        shown = log.shown_lines()
        assert all(len(line) <= width for line in shown)
        assert words_of(shown) == log.entries[-1].split()


async def test_log_rewraps_when_the_terminal_is_resized() -> None:
    app = status_app()
    async with app.run_test(size=(200, 50)) as pilot:
        log = await show_log(pilot, (200, 50))
        wide_lines = len(log.shown_lines())
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        width = log.scrollable_content_region.width
        shown = log.shown_lines()
        assert len(shown) > wide_lines
        assert all(len(line) <= width for line in shown)
        assert words_of(shown) == log.entries[-1].split()


def test_a_spill_of_nothing_claims_no_freed_memory() -> None:
    text, ok, freed = describe_result(
        "spill",
        {"success": True, "entries_spilled": 0, "accounted_freed_mb": 0.0, "freed_mb": 1.0},
    )
    assert ok and freed is None
    assert text.startswith("nothing to spill")
    assert "freed" not in text


def test_spill_labels_the_accounted_figure_in_words() -> None:
    text, _, freed = describe_result(
        "spill",
        {"success": True, "entries_spilled": 12, "accounted_freed_mb": 3.25, "freed_mb": 1.0},
    )
    assert "spilled 12 entries" in text and "freed 3.2 MB (accounted)" in text
    assert "_" not in text and " mb " not in text
    assert freed == 1.0


def test_an_eviction_of_nothing_says_why() -> None:
    nobody, _, freed = describe_result(
        "evict", {"success": True, "evicted_count": 0, "total_candidates": 0, "freed_mb": 0.4}
    )
    assert "no project is at or below the priority threshold" in nobody and freed is None
    empty, _, _ = describe_result(
        "evict", {"success": True, "evicted_count": 0, "total_candidates": 2}
    )
    assert "the 2 candidate projects hold no cached data" in empty


def test_an_eviction_short_of_its_target_is_not_ok() -> None:
    text, ok, _ = describe_result(
        "evict",
        {
            "success": True,
            "target_met": False,
            "target_mb": 500.0,
            "evicted_count": 3,
            "evicted_count_mb": 13.1,
            "total_candidates": 1,
            "evicted_projects": ["engine"],
        },
    )
    assert not ok and text.startswith("target not met")
    assert "freed 13.1 MB (accounted) of 500.0 MB asked" in text


async def test_the_log_line_labels_the_rss_change_as_measured() -> None:
    app = status_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.log_line("gc", "ok: collected 12 objects", freed_mb=-0.3)
        assert app.dashboard.action_log.entries[-1].endswith("RSS up 0.3 MB (measured)")
