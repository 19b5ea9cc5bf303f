"""Each key does what it says, on a real engine (Runtime over a generated corpus, fake probe)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, TextArea

from engine import api
from leindex_tui.app import LeIndexApp
from leindex_tui.screens.config_editor import ConfigEditorScreen
from leindex_tui.screens.evict_modal import EvictModal
from leindex_tui.screens.file_view import FileViewScreen
from leindex_tui.screens.search import SearchScreen
from leindex_tui.widgets.action_log import ActionLog
from leindex_tui.widgets.eviction_table import EvictionTable
from leindex_tui.widgets.threshold_gauge import ThresholdGauge
from tests.tui.conftest import settle, wait_until


def make_runtime(home: Path, corpus: Path, probe, watch_config: bool = False):
    from engine.runtime import Runtime

    return Runtime(home=home, paths=[corpus], probe=probe, watch_config=watch_config)


async def start(pilot: Pilot) -> LeIndexApp:
    """Wait until the engine runs, the corpus is indexed and the dashboard shows it."""
    app: LeIndexApp = pilot.app  # type: ignore[assignment]
    await wait_until(pilot, lambda: app.runtime_ready)
    await wait_until(
        pilot,
        lambda: (
            app.last_status is not None
            and bool(app.last_status.projects)
            and all(project.indexed for project in app.last_status.projects)
        ),
    )
    return app


def warm_caches() -> None:
    """Fill the query cache and the loaded-file cache the way users do: by searching."""
    for query in ("MemoryTracker", "socket", "argparse", "parser", "eviction", "sock"):
        api.search(query)


def accounted_mb() -> float:
    breakdown = api.dashboard_status().breakdown
    heap = next(child for child in breakdown.children if child.key == "heap")
    return sum(child.mb for child in heap.children if child.source == "accounted")


@pytest.fixture
def engine_app(tmp_leindex_home: Path, small_corpus: Path, fake_probe) -> LeIndexApp:
    runtime = make_runtime(tmp_leindex_home, small_corpus, fake_probe)
    app = LeIndexApp(runtime=runtime, refresh_seconds=0.2)
    yield app
    runtime.shutdown()


async def test_c_cleanup_lowers_the_accounted_memory(
    tmp_leindex_home: Path, weighty_corpus: Path, fake_probe
) -> None:
    runtime = make_runtime(tmp_leindex_home, weighty_corpus, fake_probe)
    app = LeIndexApp(runtime=runtime, refresh_seconds=0.2)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await start(pilot)
            for query in ("needle_token", "handler_1_1", "handler_2_2", "filler"):
                api.search(query, limit=30)
            before = api.dashboard_status()
            accounted_before = accounted_mb()
            assert before.cached_queries > 0
            await pilot.press("c")
            await settle(pilot)
            after = api.dashboard_status()
            assert after.cached_queries < before.cached_queries
            assert accounted_mb() < accounted_before
            assert any("cleanup" in line for line in log_lines(app))
    finally:
        runtime.shutdown()


async def test_s_spill_moves_cache_entries_to_disk(
    engine_app: LeIndexApp, tmp_leindex_home: Path
) -> None:
    async with engine_app.run_test(size=(100, 30)) as pilot:
        app = await start(pilot)
        warm_caches()
        before = api.dashboard_status()
        assert before.cached_queries > 0
        await pilot.press("s")
        await settle(pilot)
        after = api.dashboard_status()
        assert after.cached_queries < before.cached_queries
        spilled = [path for path in (tmp_leindex_home / "spill").rglob("*") if path.is_file()]
        assert spilled, "spill wrote nothing to the spill directory"
        log = app.screen.query_one(ActionLog).entries
        assert any("spill" in line and "freed" in line and "(accounted)" in line for line in log)


async def test_e_evict_asks_then_records_a_history_row(engine_app: LeIndexApp) -> None:
    async with engine_app.run_test(size=(100, 30)) as pilot:
        app = await start(pilot)
        warm_caches()
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, EvictModal)
        app.screen.query_one("#evict-target", Input).value = "1"
        await pilot.press("enter")
        await settle(pilot)
        evictions = api.dashboard_status().evictions
        assert len(evictions) == 1 and evictions[0].trigger == "key"
        app.refresh_status()
        await settle(pilot)
        assert app.screen.query_one(EvictionTable).row_count == 1


async def test_g_gc_is_logged_with_its_result(engine_app: LeIndexApp) -> None:
    async with engine_app.run_test(size=(100, 30)) as pilot:
        app = await start(pilot)
        await pilot.press("g")
        await settle(pilot)
        assert any("gc  ok" in line for line in app.screen.query_one(ActionLog).entries)


async def test_config_edit_changes_the_gauge_marks(engine_app: LeIndexApp) -> None:
    async with engine_app.run_test(size=(100, 30)) as pilot:
        app = await start(pilot)
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, ConfigEditorScreen)
        app.screen.query_one("#editor-text", TextArea).load_text(
            "memory:\n  soft_limit_percent: 0.70\n  hard_limit_percent: 0.85\n"
        )
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen.last_error is None
        await pilot.press("escape")
        app.refresh_status()
        await settle(pilot)
        reading = app.screen.query_one(ThresholdGauge).reading
        assert (reading.soft_percent, reading.hard_percent) == pytest.approx((0.70, 0.85))
        assert "70%" in app.screen.query_one(ThresholdGauge).render().plain


async def test_invalid_edit_shows_the_error_and_keeps_the_config(
    engine_app: LeIndexApp, tmp_leindex_home: Path
) -> None:
    async with engine_app.run_test(size=(100, 30)) as pilot:
        app = await start(pilot)
        await pilot.press("o")
        await settle(pilot)
        editor = app.screen.query_one("#editor-text", TextArea)
        editor.load_text("memory:\n  total_budget_mb: 2048\n  soft_limit_percent: 1.5\n")
        await pilot.press("ctrl+s")
        await settle(pilot)
        error = app.screen.last_error
        assert error is not None and error["line"] == 3
        assert editor.cursor_location[0] == 2  # moved to the offending line
        assert not (tmp_leindex_home / "config.yaml").exists()
        assert api.dashboard_status().budget_mb == 3072


async def test_slash_searches_and_opens_the_file_at_the_hit(engine_app: LeIndexApp) -> None:
    async with engine_app.run_test(size=(100, 30)) as pilot:
        app = await start(pilot)
        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen)
        app.screen.query_one("#search-query", Input).value = "read_resident_set_size"
        await pilot.press("enter")
        await settle(pilot)
        table = app.screen.query_one("#search-results", DataTable)
        assert table.row_count >= 1
        assert "engine_core.py" in str(table.get_row_at(0)[1])
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, FileViewScreen)
        area = app.screen.query_one(TextArea)
        assert "read_resident_set_size" in area.document.get_line(area.cursor_location[0])


async def test_q_saves_the_cache_state_and_exits(
    engine_app: LeIndexApp, tmp_leindex_home: Path
) -> None:
    async with engine_app.run_test(size=(100, 30)) as pilot:
        await start(pilot)
        warm_caches()
        await pilot.press("q")
        await wait_until(pilot, lambda: not engine_app.is_running)
    state = json.loads((tmp_leindex_home / "cache_state.json").read_text())
    assert state["version"] == "1.0" and state["projects"]
    assert engine_app.return_code == 0


async def test_a_config_file_written_elsewhere_reloads_live(
    tmp_leindex_home: Path, small_corpus: Path, fake_probe
) -> None:
    runtime = make_runtime(tmp_leindex_home, small_corpus, fake_probe, watch_config=True)
    app = LeIndexApp(runtime=runtime, refresh_seconds=0.2)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await start(pilot)
            runtime.wait_watcher_ready(5)
            (tmp_leindex_home / "config.yaml").write_text("memory:\n  total_budget_mb: 2048\n")
            await wait_until(pilot, lambda: app.last_status.budget_mb == 2048)
            await wait_until(pilot, lambda: any("reload" in line for line in log_lines(app)))
            (tmp_leindex_home / "config.yaml").write_text("memory:\n  total_budget_mb: [\n")
            await wait_until(pilot, lambda: any("rejected" in line for line in log_lines(app)))
            app.refresh_status()
            await settle(pilot)
            assert app.last_status.budget_mb == 2048  # the invalid file changed nothing
    finally:
        runtime.shutdown()


async def test_crossing_the_soft_limit_raises_an_alert_and_colours_the_header(
    tmp_leindex_home: Path, small_corpus: Path, fake_probe
) -> None:
    tmp_leindex_home.mkdir(parents=True, exist_ok=True)
    (tmp_leindex_home / "config.yaml").write_text(
        "memory:\n  total_budget_mb: 1000\n  monitoring:\n    interval_seconds: 0.1\n"
    )
    runtime = make_runtime(tmp_leindex_home, small_corpus, fake_probe)
    app = LeIndexApp(runtime=runtime, refresh_seconds=0.2)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await start(pilot)
            fake_probe.rss_mb = 850  # 85 % of the budget: above soft (80 %)
            await wait_until(pilot, lambda: any("alert" in line for line in log_lines(app)))
            await wait_until(pilot, lambda: app.screen.has_class("-level-soft"))
            assert any("SOFT" in str(n.title) for n in app._notifications)
    finally:
        runtime.shutdown()


def log_lines(app: LeIndexApp) -> list[str]:
    return app.dashboard.action_log.entries


async def test_p_on_the_projects_table_changes_the_priority(engine_app: LeIndexApp) -> None:
    from leindex_tui.widgets.projects_table import ProjectsTable

    async with engine_app.run_test(size=(100, 30)) as pilot:
        app = await start(pilot)
        name = app.last_status.projects[0].name
        assert api.list_projects()["projects"][0]["priority"] == "MEDIUM"
        app.screen.query_one(ProjectsTable).focus()
        await pilot.press("p")
        await settle(pilot)
        assert api.list_projects()["projects"][0]["priority"] == "HIGH"
        await wait_until(
            pilot, lambda: app.screen.query_one(ProjectsTable).get_cell(name, "priority") == "HIGH"
        )


async def test_editing_a_project_file_applies_its_priority(
    engine_app: LeIndexApp, tmp_leindex_home: Path
) -> None:
    from textual.widgets import Select

    async with engine_app.run_test(size=(100, 30)) as pilot:
        app = await start(pilot)
        name = app.last_status.projects[0].name
        await pilot.press("o")
        await settle(pilot)
        app.screen.query_one("#editor-file", Select).value = name
        await settle(pilot)
        assert app.screen.kind == "project"
        app.screen.query_one("#editor-text", TextArea).load_text("memory:\n  priority: LOW\n")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen.last_error is None
    assert (tmp_leindex_home / "projects" / f"{name}.yaml").read_text().endswith("LOW\n")
    assert api.list_projects()["projects"][0]["priority"] == "LOW"


async def test_form_after_a_yaml_save_shows_the_saved_values_and_applies_only_changes(
    engine_app: LeIndexApp, tmp_leindex_home: Path
) -> None:
    from textual.widgets import Button

    from leindex_tui.screens.config_editor import field_id

    async with engine_app.run_test(size=(100, 30)) as pilot:
        app = await start(pilot)
        await pilot.press("o")
        await settle(pilot)
        editor = app.screen
        assert "new file" in str(editor.query_one("#editor-path").render())
        editor.query_one("#editor-text", TextArea).load_text("memory:\n  total_budget_mb: 320\n")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert editor.last_error is None
        assert "new file" not in str(editor.query_one("#editor-path").render())
        budget = editor.query_one(f"#{field_id('memory.total_budget_mb')}", Input)
        assert budget.value == "320"
        assert any("config saved" in line for line in app.dashboard.action_log.entries)
        # Change one field on the form: only that key is written, the budget stays 320.
        editor.query_one(f"#{field_id('memory.max_loaded_files')}", Input).value = "77"
        editor.query_one("#form-apply", Button).press()
        await settle(pilot)
        text = (tmp_leindex_home / "config.yaml").read_text()
        assert "total_budget_mb: 320" in text and "max_loaded_files: 77" in text
        assert "soft_limit_percent" not in text  # defaults are not pinned into the file


async def test_escape_with_unsaved_edits_asks_first(engine_app: LeIndexApp) -> None:
    from leindex_tui.screens.confirm import ConfirmModal

    async with engine_app.run_test(size=(100, 30)) as pilot:
        app = await start(pilot)
        await pilot.press("o")
        await settle(pilot)
        app.screen.query_one("#editor-text", TextArea).load_text("memory:\n  total_budget_mb: [\n")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("escape")  # keep editing
        await settle(pilot)
        assert isinstance(app.screen, ConfigEditorScreen)
        await pilot.press("escape")
        await settle(pilot)
        app.screen.query_one("#confirm-ok").press()
        await settle(pilot)
        assert not isinstance(app.screen, ConfigEditorScreen | ConfirmModal)
