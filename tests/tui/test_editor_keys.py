"""The config editor by keyboard alone: `o` lands in the text, Tab leaves it, ctrl+t switches."""

from __future__ import annotations

from textual.widgets import Input, Select, TabbedContent, TextArea

from leindex_tui.screens.config_editor import ConfigEditorScreen, field_id
from tests.tui.conftest import settle, status_app


async def open_editor(pilot) -> ConfigEditorScreen:
    await settle(pilot)
    await pilot.press("o")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ConfigEditorScreen)
    return screen


async def test_o_puts_the_keyboard_in_the_yaml_text(tmp_leindex_home) -> None:
    app = status_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_editor(pilot)
        assert isinstance(app.focused, TextArea) and app.focused.id == "editor-text"
        await pilot.press("down")  # an arrow moves the cursor; it does not open the picker
        assert not screen.query_one("#editor-file", Select).expanded


async def test_tab_leaves_the_yaml_text_without_inserting_an_indent(tmp_leindex_home) -> None:
    app = status_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_editor(pilot)
        area = screen.query_one("#editor-text", TextArea)
        before = area.text
        await pilot.press("tab")
        assert app.focused is not area
        assert area.text == before
        for _ in range(4):  # shift+tab from the text reaches the file picker
            await pilot.press("shift+tab")
            if isinstance(app.focused, Select):
                break
        assert app.focused is screen.query_one("#editor-file", Select)


async def test_ctrl_t_switches_to_the_form_and_back_with_the_keyboard_in_it(
    tmp_leindex_home,
) -> None:
    app = status_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_editor(pilot)
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert screen.query_one("#editor-tabs", TabbedContent).active == "tab-form"
        assert app.focused is screen.query_one(f"#{field_id('memory.total_budget_mb')}", Input)
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert screen.query_one("#editor-tabs", TabbedContent).active == "tab-yaml"
        assert app.focused is screen.query_one("#editor-text", TextArea)


async def test_the_footer_names_the_keys_that_leave_the_editor(tmp_leindex_home) -> None:
    app = status_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_editor(pilot)
        shown = {
            binding.description
            for (_key, binding, _enabled, _tip) in screen.active_bindings.values()
            if binding.show
        }
        assert {"YAML/Form", "Next field", "Save", "Back"} <= shown


async def test_a_soft_above_hard_mistake_blames_the_key_the_user_changed(tmp_leindex_home) -> None:
    tmp_leindex_home.mkdir(parents=True, exist_ok=True)
    (tmp_leindex_home / "config.yaml").write_text(
        "memory:\n  soft_limit_percent: 0.8\n  hard_limit_percent: 0.93\n"
    )
    app = status_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_editor(pilot)
        area = screen.query_one("#editor-text", TextArea)
        area.load_text("memory:\n  soft_limit_percent: 0.95\n  hard_limit_percent: 0.93\n")
        await pilot.press("ctrl+s")
        await settle(pilot)
        error = screen.last_error
        assert error is not None
        assert error["key_path"] == "memory.soft_limit_percent" and error["line"] == 2
        assert "must be below memory.hard_limit_percent = 0.93" in error["message"]
        assert area.cursor_location[0] == 1
    assert "0.8" in (tmp_leindex_home / "config.yaml").read_text()  # nothing was written
