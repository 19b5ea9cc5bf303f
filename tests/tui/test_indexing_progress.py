"""The indexing rows name the project and show files, MB, phase, rate and ETA; done lingers."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import ProgressBar

from leindex_tui.widgets.indexing_progress import (
    DONE_LINGER_READINGS,
    DONE_LINGER_SECONDS,
    IndexingProgress,
    IndexingRow,
)
from tests.tui.conftest import settle, status_app
from tests.tui.status_factory import BASE_TIME, guide_projects, make_status

MB = 1024 * 1024


def indexing(files_done: int, files_total: int = 400, phase: str = "indexing", **changes):
    """The guide's projects, with temp-analysis at this point of its first index."""
    core, legacy, temp = guide_projects()
    temp = replace(
        temp,
        files_done=files_done,
        files_total=files_total,
        phase=phase,
        bytes_done=files_done * MB // 10,
        **changes,
    )
    return (core, legacy, temp)


async def show(app, pilot, projects, at: float) -> IndexingRow | None:
    app.status_feed.status = make_status(projects=projects, timestamp=at)
    app.refresh_status()
    await settle(pilot)
    return app.dashboard.query_one(IndexingProgress).rows.get("temp-analysis")


def shown_text(row: IndexingRow) -> str:
    return " ".join(str(label.render()) for label in row.query("Label"))


async def test_the_row_names_the_project_and_shows_files_mb_and_phase() -> None:
    app = status_app(make_status(projects=indexing(120, stage="full-text")))
    async with app.run_test(size=(80, 24)) as pilot:
        row = await show(app, pilot, indexing(120, stage="full-text"), BASE_TIME)
        assert row is not None
        text = shown_text(row)
        assert "indexing temp-analysis" in text
        assert "120/400 files" in text and "12 MB" in text and "stage 1/2 full-text" in text
        assert row.region.height == 2 and row.query_one(".indexing-name").size.width >= len(
            "indexing temp-analysis"
        )


async def test_rate_and_eta_appear_once_two_readings_are_a_second_apart() -> None:
    app = status_app(make_status(projects=indexing(100)))
    async with app.run_test(size=(80, 24)) as pilot:
        row = await show(app, pilot, indexing(100), BASE_TIME)
        assert "files/s" not in shown_text(row)
        row = await show(app, pilot, indexing(200), BASE_TIME + 2)
        text = shown_text(row)
        assert "≈50 files/s" in text and "ETA ≈4 s" in text  # 200 left at 50 files/s


async def test_before_the_count_is_known_it_says_scanning_without_a_percent() -> None:
    app = status_app(make_status(projects=indexing(0, 0, phase="scanning")))
    async with app.run_test(size=(80, 24)) as pilot:
        row = await show(app, pilot, indexing(0, 0, phase="scanning"), BASE_TIME)
        assert "scanning" in shown_text(row)
        assert not row.query_one(ProgressBar).display  # no "--%" before there is a count


async def test_a_finished_index_says_done_for_a_moment_then_goes() -> None:
    app = status_app(make_status(projects=indexing(300)))
    async with app.run_test(size=(80, 24)) as pilot:
        await show(app, pilot, indexing(300), BASE_TIME)
        done = indexing(400, indexed=True, phase="ready")
        row = await show(app, pilot, done, BASE_TIME + 1)
        assert row is not None and "indexed temp-analysis" in shown_text(row)
        assert "done: 400 files" in shown_text(row)
        assert row.query_one(ProgressBar).percentage == 1.0
        gone = await show(app, pilot, done, BASE_TIME + 1 + DONE_LINGER_SECONDS)
        assert gone is None
        assert app.dashboard.query_one(IndexingProgress).has_class("-idle")


async def test_with_a_clock_that_stands_still_the_done_row_goes_after_a_few_readings() -> None:
    app = status_app(make_status(projects=indexing(300)))
    async with app.run_test(size=(80, 24)) as pilot:
        # The indexing reading first: a newer status replaces an unprocessed older one.
        assert await show(app, pilot, indexing(300), BASE_TIME) is not None
        done = indexing(400, indexed=True, phase="ready")
        readings_shown = 0
        while await show(app, pilot, done, BASE_TIME) is not None:
            readings_shown += 1
            assert readings_shown <= DONE_LINGER_READINGS + 2, "the done row never goes"
        assert readings_shown >= DONE_LINGER_READINGS


async def test_the_semantic_stage_and_a_pause_for_memory_are_shown() -> None:
    paused = indexing(30, stage="semantic", paused="RSS + reservations would exceed the limit")
    app = status_app(make_status(projects=paused))
    async with app.run_test(size=(200, 50)) as pilot:
        row = await show(app, pilot, paused, BASE_TIME)
        assert row is not None
        text = shown_text(row)
        assert "stage 2/2 semantic" in text and "paused: RSS + reservations" in text
