"""Edit the global or a project's config as YAML (or through a form), validated before save."""

from __future__ import annotations

from typing import Any

import yaml
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    Footer,
    Header,
    Input,
    Label,
    Select,
    TabbedContent,
    TabPane,
    TextArea,
)
from textual.worker import Worker, WorkerState

from engine import api
from engine.priority import ProjectPriority
from leindex_tui.screens.config_blame import reblame_threshold_error
from leindex_tui.screens.confirm import ConfirmModal

GLOBAL_FILE = "__global__"

# (dotted key, label, kind) of the form's fields; kind picks the parser.
GLOBAL_FIELDS = (
    ("memory.total_budget_mb", "Budget (MB)", int),
    ("memory.soft_limit_percent", "Soft limit (0–1)", float),
    ("memory.hard_limit_percent", "Hard limit (0–1)", float),
    ("memory.emergency_percent", "Emergency (0–1)", float),
    ("memory.monitoring.interval_seconds", "Monitor interval (s)", float),
    ("memory.max_loaded_files", "Max loaded files", int),
    ("memory.max_cached_queries", "Max cached queries", int),
    ("memory.project_defaults.priority", "Default priority", str),
)
PROJECT_FIELDS = (
    ("memory.max_loaded_files", "Max loaded files", int),
    ("memory.max_cached_queries", "Max cached queries", int),
    ("memory.priority", "Priority", str),
)


def field_id(key: str) -> str:
    """A widget id for a dotted key."""
    return "field-" + key.replace(".", "-").replace("_", "-")


def apply_form_values(text: str, values: dict[str, Any]) -> str:
    """`text` (a YAML mapping) with each dotted key set to its value; ValueError if not a map.

    Comments in the file are not kept (PyYAML drops them); the editor says so on the form tab.
    """
    try:
        document = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as error:
        raise ValueError(f"the YAML tab does not parse, fix it there first: {error}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ValueError("the file's top level is not a mapping; fix it on the YAML tab")
    for dotted, value in values.items():
        node = document
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[leaf] = value
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


class ConfigEditorScreen(Screen[None]):
    """YAML with highlighting and in-place errors, plus a form for the common keys."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        # Priority, because the YAML editor would otherwise take escape to release focus.
        Binding("escape", "back", "Back", priority=True),
        # Priority too: it must work while the YAML editor has the keyboard.
        Binding("ctrl+t", "switch_tab", "YAML/Form", priority=True),
        Binding("tab", "app.focus_next", "Next field", show=True),
    ]

    # The keyboard lands in the text (not the file picker, where arrows would open it).
    AUTO_FOCUS = "#editor-text"

    DEFAULT_CSS = """
    ConfigEditorScreen #editor-bar {
        height: auto;
    }
    ConfigEditorScreen #editor-file {
        width: 36;
    }
    ConfigEditorScreen #editor-path {
        width: 1fr;
        padding: 1 1 0 1;
        color: $foreground-muted;
    }
    ConfigEditorScreen #editor-error {
        width: 1fr;
        height: auto;
        max-height: 4;
        padding: 0 1;
        color: $error;
        display: none;
    }
    ConfigEditorScreen #editor-error.-shown {
        display: block;
    }
    ConfigEditorScreen #editor-tabs {
        height: 1fr;
    }
    ConfigEditorScreen #editor-text {
        height: 1fr;
    }
    ConfigEditorScreen .form-row {
        height: auto;
    }
    ConfigEditorScreen .form-row Label {
        width: 24;
        padding: 1 1 0 0;
    }
    ConfigEditorScreen .form-row Input, ConfigEditorScreen .form-row Select {
        width: 24;
    }
    ConfigEditorScreen #form-note {
        color: $foreground-muted;
        padding: 1 0 0 0;
    }
    """

    def __init__(self, project_names: list[str]) -> None:
        super().__init__()
        self.project_names = project_names
        self.kind = "global"
        self.project: str | None = None
        self.path = ""
        self.last_error: dict[str, Any] | None = None
        # The text as last read or saved, and the form as last filled: what "unsaved" is against.
        self.saved_text = ""
        self.form_baseline: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="≡")
        with Horizontal(id="editor-bar"):
            yield Select(
                [("global config.yaml", GLOBAL_FILE)]
                + [(f"project {name}", name) for name in self.project_names],
                value=GLOBAL_FILE,
                allow_blank=False,
                id="editor-file",
            )
            yield Label("", id="editor-path", markup=False)
        yield Label("", id="editor-error", markup=False)
        with TabbedContent(id="editor-tabs"):
            with TabPane("YAML", id="tab-yaml"):
                # Tab leaves the editor (so the file picker and the Form tab are reachable by
                # keyboard); YAML is indented with spaces, which the space bar types as well.
                yield TextArea.code_editor(
                    "", language="yaml", id="editor-text", tab_behavior="focus"
                )
            with TabPane("Form", id="tab-form"), VerticalScroll(id="form"):
                for key, label, kind in GLOBAL_FIELDS + PROJECT_FIELDS[2:]:
                    with Horizontal(classes="form-row", id=f"row-{field_id(key)}"):
                        yield Label(label)
                        if kind is str:
                            yield Select(
                                [(p.name, p.name) for p in ProjectPriority],
                                allow_blank=False,
                                value="MEDIUM",
                                id=field_id(key),
                            )
                        else:
                            yield Input(id=field_id(key), type="number")
                yield Button("Apply and save", id="form-apply", variant="primary")
                yield Label(
                    "The form writes only the fields you change; the file's comments are not kept.",
                    id="form-note",
                )
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = "config editor"
        self.load_selected()

    def action_switch_tab(self) -> None:
        """Go to the other tab (YAML ↔ Form) and put the keyboard in it."""
        tabs = self.query_one("#editor-tabs", TabbedContent)
        if tabs.active == "tab-yaml":
            tabs.active = "tab-form"
            fields = self.query(".form-row Input, .form-row Select")
            first = next(field for field in fields if field.parent and field.parent.display)
            self.call_after_refresh(first.focus)
        else:
            tabs.active = "tab-yaml"
            self.call_after_refresh(self.query_one("#editor-text", TextArea).focus)

    def action_back(self) -> None:
        """Close an open drop-down first; ask before dropping unsaved edits; else leave."""
        for select in self.query(Select):
            if select.expanded:
                select.expanded = False
                return
        if not self.has_unsaved_edits():
            self.app.pop_screen()
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.app.pop_screen()

        self.app.push_screen(
            ConfirmModal("This file has unsaved edits. Discard them and leave the editor?"),
            answered,
        )

    def has_unsaved_edits(self) -> bool:
        """Whether the YAML tab or the form differs from what was last read or saved."""
        if self.query_one("#editor-text", TextArea).text != self.saved_text:
            return True
        return bool(self.changed_form_keys())

    def _raw_form_values(self) -> dict[str, str]:
        fields = PROJECT_FIELDS if self.kind == "project" else GLOBAL_FIELDS
        return {
            key: str(self.query_one(f"#{field_id(key)}").value).strip() for key, _l, _k in fields
        }

    def changed_form_keys(self) -> set[str]:
        """The form keys whose field differs from the value it was filled with."""
        raw = self._raw_form_values()
        return {key for key, value in raw.items() if self.form_baseline.get(key) != value}

    # ----------------------------------------------------------------- loading

    @on(Select.Changed, "#editor-file")
    def file_changed(self, event: Select.Changed) -> None:
        value = str(event.value)
        kind, project = ("global", None) if value == GLOBAL_FILE else ("project", value)
        if (kind, project) != (self.kind, self.project):
            self.kind, self.project = kind, project
            self.load_selected()

    def load_selected(self) -> None:
        """Read the selected file (in a worker) into the editor and the form."""
        self.read_file(self.kind, self.project)

    @work(thread=True, exclusive=True, group="config-read", exit_on_error=False)
    def read_file(self, kind: str, project: str | None) -> dict[str, Any]:
        return api.read_config_file(kind, project)

    def show_file(self, result: dict[str, Any]) -> None:
        """Put a read result into the editor, the path line and the form."""
        self.path = result["path"]
        state = "" if result.get("exists") else "  (new file: defaults until saved)"
        self.query_one("#editor-path", Label).update(f"{self.path}{state}")
        self.saved_text = result.get("text", "")
        self.query_one("#editor-text", TextArea).load_text(self.saved_text)
        self.show_error(None)
        self._fill_form(result.get("effective") or {})

    def _fill_form(self, effective: dict[str, Any]) -> None:
        fields = PROJECT_FIELDS if self.kind == "project" else GLOBAL_FIELDS
        shown = {key for key, _label, _kind in fields}
        for key, _label, _kind in GLOBAL_FIELDS + PROJECT_FIELDS[2:]:
            self.query_one(f"#row-{field_id(key)}").display = key in shown
            if key not in shown or key not in effective:
                continue
            widget = self.query_one(f"#{field_id(key)}")
            if isinstance(widget, Select | Input):
                widget.value = str(effective[key])
        # What each shown field holds now; the form applies only the fields that differ.
        self.form_baseline = {key: str(effective[key]).strip() for key in shown if key in effective}

    # ----------------------------------------------------------------- saving

    def action_save(self) -> None:
        """Validate and save the YAML tab's text; the reload path applies it."""
        self.save_text(self.query_one("#editor-text", TextArea).text)

    @on(Button.Pressed, "#form-apply")
    def apply_form(self) -> None:
        try:
            values = self.form_values()
            if not values:
                self.notify("the form has no changes to apply", timeout=3)
                return
            text = apply_form_values(self.query_one("#editor-text", TextArea).text, values)
        except ValueError as error:
            self.show_error({"message": str(error), "line": None})
            return
        self.query_one("#editor-text", TextArea).load_text(text)
        self.save_text(text)

    def form_values(self) -> dict[str, Any]:
        """The form's changed values by dotted key, parsed; ValueError naming the field otherwise.

        Fields left as they were filled are not written, so defaults are not pinned in the file
        and a value saved from the YAML tab is never overwritten by a stale form field.
        """
        fields = PROJECT_FIELDS if self.kind == "project" else GLOBAL_FIELDS
        values: dict[str, Any] = {}
        changed = self.changed_form_keys()
        for key, label, kind in fields:
            if key not in changed:
                continue  # untouched: the file keeps (or keeps leaving out) its value
            widget = self.query_one(f"#{field_id(key)}")
            raw = str(widget.value).strip()
            if kind is str:
                values[key] = raw
                continue
            try:
                values[key] = kind(float(raw)) if kind is int else kind(raw)
            except (ValueError, OverflowError):
                raise ValueError(f"{label}: {raw!r} is not a number") from None
        return values

    def save_text(self, text: str) -> None:
        self.sub_title = "validating…"
        self.write_file(text, self.kind, self.project)

    @work(thread=True, exclusive=True, group="config-write", exit_on_error=False)
    def write_file(self, text: str, kind: str, project: str | None) -> dict[str, Any]:
        return api.save_config_file(text, kind, project)

    def show_saved(self, result: dict[str, Any]) -> None:
        """Show a save result: the error in place with the cursor on its line, or the reload."""
        self.sub_title = "config editor"
        if not result.get("success"):
            error = result.get("error") or {"message": "not saved", "line": None}
            text = self.query_one("#editor-text", TextArea).text
            self.show_error(reblame_threshold_error(error, self.saved_text, text))
            return
        self.show_error(None)
        # Re-read: the header loses "new file", the form shows the saved values, and the
        # buffer counts as saved.
        self.load_selected()
        reload = result.get("reload") or {}
        log = getattr(self.app, "log_config_save", None)
        if callable(log):
            log(result)
        if reload.get("success"):
            changes = "; ".join(reload.get("changes") or []) or "no changes"
            self.notify(f"saved {result['path']}: {changes}", title="Config saved")
        else:
            self.notify(
                f"saved, but the reload failed: {reload.get('error')}",
                severity="error",
                timeout=10,
            )
        for warning in result.get("warnings") or []:
            self.notify(str(warning), title="Config warning", severity="warning")

    def show_error(self, error: dict[str, Any] | None) -> None:
        """Show `error` above the editor and move the cursor to its line (None clears it)."""
        self.last_error = error
        label = self.query_one("#editor-error", Label)
        label.set_class(error is not None, "-shown")
        if error is None:
            label.update("")
            return
        line = error.get("line")
        key = error.get("key_path")
        message = str(error.get("message"))
        # The message starts with "file:line: " — the editor already shows the file above.
        prefix = f"{error.get('file')}:{line}: " if error.get("file") else None
        if prefix and message.startswith(prefix):
            message = message[len(prefix) :]
        where = f"line {line}" + (f", key {key}" if key else "") if line else (key or "")
        label.update(f"✗ {where}: {message}" if where else f"✗ {message}")
        if line:
            area = self.query_one("#editor-text", TextArea)
            row = max(0, min(int(line) - 1, area.document.line_count - 1))
            self.query_one("#editor-tabs", TabbedContent).active = "tab-yaml"
            area.move_cursor((row, 0), center=True)
            area.focus()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        group = event.worker.group
        if group not in ("config-read", "config-write"):
            return
        if event.state == WorkerState.ERROR:
            self.sub_title = "config editor"
            self.show_error({"message": str(event.worker.error), "line": None})
        elif event.state == WorkerState.SUCCESS:
            if group == "config-read":
                self.show_file(event.worker.result)
            else:
                self.show_saved(event.worker.result)
