"""At 80×24 the dashboard shows what matters: a compact tree and the key table columns."""

from __future__ import annotations

from textual.widgets import DataTable, TabbedContent

from leindex_tui.widgets.breakdown_tree import BreakdownTree
from leindex_tui.widgets.eviction_table import EvictionTable
from leindex_tui.widgets.projects_table import ProjectsTable
from tests.tui.conftest import settle, status_app
from tests.tui.status_factory import guide_eviction, make_status


def visible_titles(table: DataTable) -> list[str]:
    """The column titles that fit, whole, in the table's width without scrolling."""
    shown, used = [], 0
    for column in table.ordered_columns:
        used += column.get_render_width(table)
        if used > table.scrollable_content_region.width:
            break
        shown.append(str(column.label))
    return shown


async def test_the_breakdown_tree_leaves_most_of_80_columns_to_the_tables() -> None:
    app = status_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = app.dashboard.query_one(BreakdownTree)
        assert tree.outer_size.width <= 34
        assert app.dashboard.query_one(TabbedContent).outer_size.width >= 46


async def test_compact_tree_moves_the_total_to_its_title_and_keeps_every_label_whole() -> None:
    app = status_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tree = app.dashboard.query_one(BreakdownTree)
        assert tree.compact and not tree.show_root
        assert "1995 MB" in str(tree.border_title)
        assert "·acct" in str(tree.border_subtitle) and "·calc" in str(tree.border_subtitle)
        shown = [tree.render_line(y).text for y in range(tree.size.height)]
        for key, node in tree._nodes_by_key.items():
            if key != "total":
                label = node.label.plain
                assert any(label in line for line in shown), f"{label!r} clipped"


async def test_the_wide_tree_shows_the_root_and_shares() -> None:
    app = status_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        tree = app.dashboard.query_one(BreakdownTree)
        assert not tree.compact and tree.show_root
        assert "(RSS)" in str(tree.root.label)
        assert "(%)" not in str(tree._nodes_by_key["heap"].label)
        assert "%)" in str(tree._nodes_by_key["heap"].label)


async def test_projects_at_80_columns_show_name_priority_state_files_and_mb() -> None:
    app = status_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.dashboard.query_one(ProjectsTable)
        assert visible_titles(table)[:5] == ["Project", "Priority", "State", "Files", "MB"]


async def test_evictions_at_80_columns_show_time_trigger_freed_and_projects() -> None:
    app = status_app(make_status("SOFT", evictions=(guide_eviction(-10),)))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.dashboard.query_one(TabbedContent).active = "tab-evictions"
        await settle(pilot)
        table = app.dashboard.query_one(EvictionTable)
        assert visible_titles(table)[:4] == ["Time", "Trigger", "Freed MB", "Projects"]
