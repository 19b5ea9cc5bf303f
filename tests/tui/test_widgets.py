"""The dashboard's widgets, driven by hand-built DashboardStatus values."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import Input, Label

from leindex_tui.screens.config_editor import apply_form_values
from leindex_tui.screens.evict_modal import EvictModal, EvictRequest, parse_target_mb
from leindex_tui.widgets.action_log import ActionLog, describe_result
from leindex_tui.widgets.breakdown_tree import BreakdownTree
from leindex_tui.widgets.eviction_table import EvictionTable, record_key
from leindex_tui.widgets.projects_table import ProjectsTable, next_priority
from leindex_tui.widgets.threshold_gauge import ThresholdGauge, mark_columns, place_labels
from tests.tui.conftest import settle, status_app, wait_until
from tests.tui.status_factory import guide_breakdown, guide_eviction, make_status


def test_close_marks_never_share_a_cell_or_overlap_their_labels() -> None:
    columns = mark_columns([0.80, 0.93, 0.98], 40)
    assert columns == sorted(set(columns))
    lines = place_labels(["80%", "93%", "98%"], columns, 40)
    for line in lines:
        ends = [start + len(label) for start, label in line]
        starts = [start for start, _ in line]
        assert all(end < next_start for end, next_start in zip(ends, starts[1:], strict=False))


async def test_gauge_marks_follow_the_configured_percents() -> None:
    app = status_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        gauge = app.screen.query_one(ThresholdGauge)
        text = gauge.render().plain
        assert "80%" in text and "93%" in text and "98%" in text
        app.status_feed.status = make_status(soft_limit_percent=0.75, soft_limit_mb=2304.0)
        app.refresh_status()
        await settle(pilot)
        text = gauge.render().plain
        assert "75%" in text and "80%" not in text
        assert "2304 MB" in text


async def test_gauge_and_header_take_the_level_colour_class() -> None:
    app = status_app(make_status("HARD"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.screen.has_class("-level-hard")
        assert app.screen.query_one(ThresholdGauge).has_class("-level-hard")
        assert "HARD" in app.sub_title
        app.status_feed.status = make_status("NORMAL")
        app.refresh_status()
        await settle(pilot)
        assert not app.screen.has_class("-level-hard")
        assert app.screen.has_class("-level-normal")


async def test_breakdown_updates_in_place_and_keeps_what_the_user_collapsed() -> None:
    app = status_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        tree = app.screen.query_one(BreakdownTree)
        heap = tree._nodes_by_key["heap"]
        heap.collapse()
        app.status_feed.status = make_status(breakdown=guide_breakdown(3000.0, 700.0))
        app.refresh_status()
        await settle(pilot)
        assert tree._nodes_by_key["heap"] is heap  # the same node, relabelled
        assert not heap.is_expanded
        assert tree._nodes_by_key["other_rss"].is_expanded
        assert "700 MB" in str(tree._nodes_by_key["heap.loaded_content"].label)
        assert "Total Memory: 3000 MB" in str(tree.root.label)


async def test_projects_table_updates_cells_and_p_asks_for_the_next_priority() -> None:
    app = status_app()
    requests: list[tuple[str, str]] = []
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ProjectsTable)
        assert table.row_count == 3
        projects = make_status().projects
        changed = (replace(projects[0], loaded_files=7), *projects[1:])
        table.update_projects(changed, make_status().timestamp)
        assert table.get_cell("core-api", "cached") == "7"
        # Files in the index once indexed; vectors not loaded are said to be on disk.
        assert table.get_cell("legacy-code", "files") == "930"
        assert table.get_cell("legacy-code", "vectors") == "on disk"
        assert table.get_cell("core-api", "vectors") == "in memory"
        # Files with no vectors (no room in the budget for them) are counted where they show.
        partial = (replace(changed[0], vectors_pending=19756), *changed[1:])
        table.update_projects(partial, make_status().timestamp)
        assert table.get_cell("core-api", "vectors") == "in memory, 19756 not embedded"
        assert table.get_cell("temp-analysis", "files") == "–"
        assert table.row_count == 3
        table.update_projects(changed[:2], make_status().timestamp)
        assert table.row_count == 2

        # Capture what the app would send to the API.
        app.run_set_priority = lambda project, priority: requests.append((project, priority))
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("p")
        await pilot.pause()
    assert requests == [("core-api", "CRITICAL")]
    assert next_priority("HIGH") == "CRITICAL" and next_priority("CRITICAL") == "LOW"


async def test_eviction_history_shows_newest_first_and_follows_the_ring() -> None:
    app = status_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(EvictionTable)
        older, newer = guide_eviction(-120), guide_eviction(-10)
        table.update_records((older, newer))
        assert table.row_count == 2
        assert table.get_row_at(0)[0] == "11:59:50"
        assert table.get_cell(record_key(newer), "freed") == "512.3"
        table.update_records((newer,))  # the history ring let the older one go
        assert table.row_count == 1


def test_describe_result_reads_the_guide_cleanup_json() -> None:
    text, ok, freed = describe_result(
        "cleanup",
        {
            "success": True,
            "freed_mb": 125.3,
            "duration_seconds": 0.5,
            "cleanup_details": {"gc_objects_collected": 5000, "cache_entries_cleared": 150},
        },
    )
    assert ok and freed == 125.3
    assert "cleared 150 cache entries" in text and "collected 5000 objects" in text
    text, ok, _ = describe_result("evict", {"success": False, "error": "nothing to evict"})
    assert not ok and text == "nothing to evict"


async def test_action_log_records_each_line() -> None:
    app = status_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.log_line("cleanup", "ok", freed_mb=12.5)
        log = app.screen.query_one(ActionLog)
        assert log.entries[-1] == "12:00:00  cleanup  ok  RSS down 12.5 MB (measured)"


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "must be a number"), ("0", "more than 0"), ("-5", "more than 0"), ("9999", "at most")],
)
def test_evict_target_validation(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_target_mb(text, current_mb=3072)


async def test_evict_modal_shows_the_error_and_stays_open_on_bad_input() -> None:
    app = status_app()
    results: list[EvictRequest | None] = []
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.push_screen(
            EvictModal({"core-api": "HIGH", "legacy-code": "LOW"}, 1995.0), results.append
        )
        await settle(pilot)
        target = app.screen.query_one("#evict-target", Input)
        target.value = "0"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EvictModal)
        assert "more than 0" in str(app.screen.query_one("#evict-error", Label).content)
        target.value = "300"
        await pilot.press("enter")
        await pilot.pause()
    assert results == [EvictRequest(300.0, "LOW", ())]


def test_form_values_merge_into_the_yaml_without_losing_other_keys() -> None:
    text = "memory:\n  total_budget_mb: 3072\n  spill:\n    enabled: false\n"
    merged = apply_form_values(
        text, {"memory.total_budget_mb": 4096, "memory.monitoring.interval_seconds": 10.0}
    )
    assert "total_budget_mb: 4096" in merged
    assert "enabled: false" in merged
    assert "interval_seconds: 10.0" in merged
    with pytest.raises(ValueError, match="not a mapping"):
        apply_form_values("- a\n- b\n", {"memory.total_budget_mb": 1})


async def test_every_key_action_is_in_the_command_palette() -> None:
    app = status_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        titles = {command.title for command in app.get_system_commands(app.screen)}
    expected = {"Cleanup", "Spill to disk", "Evict…", "Garbage collection", "Reload config"}
    assert expected | {"Search", "Edit config", "Help", "Quit", "Theme"} <= titles


async def test_a_failing_action_becomes_a_notification_not_a_crash() -> None:
    app = status_app()

    def broken(action: str, **options: object) -> dict:
        raise RuntimeError("disk on fire")

    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        import engine.api

        original = engine.api.manage_memory
        engine.api.manage_memory = broken
        try:
            await pilot.press("c")
            await settle(pilot)
        finally:
            engine.api.manage_memory = original
        assert app.is_running
        assert any("disk on fire" in str(n.message) for n in app._notifications)
        assert "cleanup  failed: disk on fire" in app.dashboard.action_log.entries[-1]


async def test_slow_quit_shows_saving_then_exits() -> None:
    import threading

    from leindex_tui.screens.saving import SavingScreen

    app = status_app()
    release = threading.Event()
    app.runtime.shutdown = release.wait  # a shutdown that takes until the test says so
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, SavingScreen))
        assert app.is_running
        release.set()
        await pilot.pause(0.5)
    assert app.return_code == 0


async def test_form_apply_writes_the_yaml_and_reloads(tmp_leindex_home) -> None:
    from textual.widgets import Button, TabbedContent

    from engine.config import get_config
    from leindex_tui.screens.config_editor import field_id

    app = status_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        screen = app.screen
        screen.query_one(TabbedContent).active = "tab-form"
        await settle(pilot)
        assert screen.query_one(f"#{field_id('memory.total_budget_mb')}", Input).value == "3072"
        screen.query_one(f"#{field_id('memory.total_budget_mb')}", Input).value = "4096"
        screen.query_one("#form-apply", Button).press()
        await settle(pilot)
        assert screen.last_error is None
    assert "total_budget_mb: 4096" in (tmp_leindex_home / "config.yaml").read_text()
    assert get_config().memory.total_budget_mb == 4096


async def test_help_says_how_to_close_it_and_shows_only_its_own_keys() -> None:
    from textual.widgets import Footer, Markdown

    from leindex_tui.screens.help import HelpScreen

    app = status_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        assert "escape" in help_screen.query_one(Markdown).source.splitlines()[2]
        assert help_screen.query(Footer)
        shown = {
            b.description for (_k, b, _e, _t) in help_screen.active_bindings.values() if b.show
        }
        assert "Close" in shown and "Evict" not in shown
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, HelpScreen)


async def test_the_palette_offers_the_priority_change_and_says_it_lasts_until_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import engine.api

    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(
        engine.api, "set_project_priority", lambda name, level: calls.append((name, level)) or {}
    )
    app = status_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        command = next(
            c for c in app.get_system_commands(app.screen) if c.title == "Change priority"
        )
        command.callback()
        await settle(pilot)
        assert calls == [("core-api", "CRITICAL")]  # the first row, HIGH → CRITICAL
        assert "until LeIndex exits" in app.dashboard.action_log.entries[-1]
