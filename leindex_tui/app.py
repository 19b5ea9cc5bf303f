"""The Textual app: one dashboard over the in-process engine, driven through `engine.api`."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from engine import api
from engine.memory.status import DashboardStatus
from engine.signals import controlling_terminal_alive
from leindex_tui.config_problems import ConfigProblems, LogEntry
from leindex_tui.screens.config_editor import ConfigEditorScreen
from leindex_tui.screens.dashboard import DashboardScreen
from leindex_tui.screens.evict_modal import EvictModal, EvictRequest
from leindex_tui.screens.help import HelpScreen
from leindex_tui.screens.saving import SavingScreen
from leindex_tui.screens.search import SearchScreen
from leindex_tui.widgets.action_log import describe_result, measured_text
from leindex_tui.widgets.projects_table import ProjectsTable

DEFAULT_REFRESH_SECONDS = 1.0
# Only show "saving…" when shutdown is slow enough to be noticed; a quick quit stays clean.
SAVING_NOTICE_DELAY_SECONDS = 0.3
EXIT_WATCHDOG_SECONDS = 5.0
ALERT_SEVERITY = {"SOFT": "warning", "HARD": "error", "EMERGENCY": "error"}

# (action, palette title, palette help) — the keys' actions, offered in the command palette too.
PALETTE_ACTIONS = (
    ("cleanup", "Cleanup", "Drop old cache entries and collect garbage (c)"),
    ("spill", "Spill to disk", "Move cached queries and loaded files to the spill directory (s)"),
    ("evict", "Evict…", "Free a target amount by project priority (e)"),
    ("gc", "Garbage collection", "Run the garbage collector and return memory to the OS (g)"),
    ("reload_config", "Reload config", "Re-read config.yaml and the project files (r)"),
    ("cycle_priority", "Change priority", "Cycle the selected project's priority until exit (p)"),
    ("search", "Search", "Search the indexed projects (/)"),
    ("edit_config", "Edit config", "Edit the global or a project config file (o)"),
    ("help", "Help", "Every key and what it does (?)"),
    ("quit", "Quit", "Save the cache state and quit (q)"),
)


@dataclass(frozen=True)
class ActionOutcome:
    """What a finished memory action returned, with the name the log shows."""

    action: str
    result: dict


class LeIndexApp(App[int]):
    """LeIndex: the memory dashboard, search and config editor over one engine runtime."""

    CSS_PATH = "app.tcss"
    TITLE = "LeIndex"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True)]

    class StatusUpdated(Message):
        """A fresh dashboard snapshot; a newer one replaces an unprocessed older one."""

        def __init__(self, status: DashboardStatus) -> None:
            super().__init__()
            self.status = status

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LeIndexApp.StatusUpdated)

    class AlertRaised(Message):
        """The memory manager crossed a level whose `alert_on_*` is on."""

        def __init__(self, level: str, text: str) -> None:
            super().__init__()
            self.level = level
            self.text = text

    class ConfigReloaded(Message):
        """The reload path ran (file watcher, SIGHUP, `r`, editor): what changed, or the error."""

        def __init__(
            self,
            success: bool,
            changes: Sequence[str],
            error: str | None,
            warnings: Sequence[str] = (),
            trigger: str = "",
        ) -> None:
            super().__init__()
            self.success = success
            self.changes = tuple(changes)
            self.error = error
            self.warnings = tuple(warnings)
            self.trigger = trigger

    def __init__(
        self,
        paths: Sequence[str | Path] = (),
        *,
        runtime: Any = None,
        probe: Any = None,
        clock: Callable[[], float] | None = None,
        home: Path | None = None,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        status_source: Callable[[], DashboardStatus] | None = None,
    ) -> None:
        """`runtime`, `probe` and `clock` are injectable for tests; `status_source` (default
        `api.dashboard_status`) lets widget snapshots run on hand-built statuses."""
        super().__init__()
        self.paths = tuple(Path(path) for path in paths)
        self.runtime = runtime
        self.probe = probe
        self.injected_clock = clock
        self.clock: Callable[[], float] = clock or time.time
        self.home = home
        self.refresh_seconds = refresh_seconds
        self.status_source: Callable[[], DashboardStatus] = status_source or api.dashboard_status
        self.last_status: DashboardStatus | None = None
        self.runtime_ready = False
        self._action_workers: dict[Worker, str] = {}
        self._quitting = False
        self._status_error_shown = False
        self._shown_level = "NORMAL"
        self._status_line = "starting…"
        self.config_problems = ConfigProblems()

    # ----------------------------------------------------------------- lifecycle

    def get_default_screen(self) -> Screen:
        return DashboardScreen()

    @property
    def dashboard(self) -> DashboardScreen:
        """The dashboard screen (always at the bottom of the stack)."""
        return self.screen_stack[0]  # type: ignore[return-value]

    def on_mount(self) -> None:
        self._show_sub_title()
        # Start-up never waits on the engine: the first paint happens while it starts.
        self.start_runtime()

    @work(thread=True, group="lifecycle", exit_on_error=False)
    def start_runtime(self) -> None:
        """Create (unless injected) and start the runtime; indexing and restore go on in threads."""
        if self.runtime is None:
            from engine.runtime import Runtime

            self.runtime = Runtime(
                home=self.home, paths=self.paths, probe=self.probe, clock=self.injected_clock
            )
        self.runtime.start()
        self._subscribe(self.runtime)
        for warning in getattr(self.runtime, "warnings", ()):
            self.call_from_thread(self.notify, str(warning), severity="warning", timeout=10)
        try:
            report = api.get_diagnostics(type="config")
        except Exception as error:  # noqa: BLE001 - the dashboard runs without this report
            self.call_from_thread(self.notify, f"config report unavailable: {error}")
            return
        self.call_from_thread(self._log_config, self.config_problems.start_up(report))

    def _subscribe(self, runtime: Any) -> None:
        """Listen to alerts and reloads; listeners run on engine threads, so they only post."""
        manager = getattr(runtime, "memory_manager", None)
        register_alert = getattr(manager, "register_alert_listener", None)
        if register_alert is not None:
            register_alert(self._post_alert)
        register_reload = getattr(runtime, "register_reload_listener", None)
        if register_reload is not None:
            register_reload(self._post_reload_result)

    def _post_alert(self, level: Any, text: str) -> None:
        self.post_message(self.AlertRaised(getattr(level, "name", str(level)), text))

    def _post_reload_result(self, result: Any) -> None:
        self.post_message(
            self.ConfigReloaded(
                bool(getattr(result, "success", False)),
                list(getattr(result, "changes", None) or ()),
                None if getattr(result, "error", None) is None else str(result.error),
                [str(warning) for warning in getattr(result, "warnings", None) or ()],
                str(getattr(result, "trigger", None) or ""),
            )
        )

    def _runtime_started(self) -> None:
        self.runtime_ready = True
        self.refresh_status()
        self.set_interval(self.refresh_seconds, self.refresh_status, name="status-refresh")

    def refresh_status(self) -> None:
        """Read one snapshot and post it; an engine error is shown once, the tick goes on."""
        try:
            status = self.status_source()
        except Exception as error:  # noqa: BLE001 - the dashboard must outlive a bad tick
            if not self._status_error_shown:
                self._status_error_shown = True
                self.notify(f"memory status unavailable: {error}", severity="error")
            return
        self._status_error_shown = False
        self.post_message(self.StatusUpdated(status))

    @on(StatusUpdated)
    def show_status(self, message: StatusUpdated) -> None:
        status = message.status
        self.last_status = status
        if not self.screen_stack:  # a reading that arrives while the app is closing
            return
        self.dashboard.show_status(status)
        projects = len(status.projects)
        self._status_line = f"{projects} project{'s' if projects != 1 else ''} · {status.level}"
        if status.floor_note:  # the budget is below what the engine needs: say so, always
            self._status_line += f" · ⚠ {status.floor_note}"
        self._show_sub_title()

    @property
    def config_problem(self) -> str | None:
        """What is wrong with the config in force, shown in the header until a load succeeds."""
        return self.config_problems.problem

    def _show_sub_title(self) -> None:
        problem = self.config_problem
        self.sub_title = f"⚠ {problem} · {self._status_line}" if problem else self._status_line

    @on(AlertRaised)
    def show_alert(self, message: AlertRaised) -> None:
        severity = ALERT_SEVERITY.get(message.level.upper(), "warning")
        self.notify(message.text, title=f"Memory {message.level}", severity=severity)
        self.log_line("alert", f"{message.level}: {message.text}", ok=message.level == "NORMAL")

    # ----------------------------------------------------------------- config problems

    def _log_config(self, entries: Iterable[LogEntry]) -> None:
        for entry in entries:
            self.log_line(entry.action, entry.text, ok=entry.ok)
        self._show_sub_title()

    def _note_config_outcome(self, success: bool, error: str | None) -> bool:
        """Update the header's config problem; True if this load fixed one ('config OK again')."""
        entries = self.config_problems.outcome(success, error)
        self._log_config(entries)
        return bool(entries)

    @on(ConfigReloaded)
    def show_reload(self, message: ConfigReloaded) -> None:
        recovered = self._note_config_outcome(message.success, message.error)
        if message.success:
            self._log_config(self.config_problems.warnings(message.warnings))
            if message.changes:
                changes = "; ".join(message.changes)
                self.notify(changes, title="Config reloaded")
                self.log_line("reload", changes)
            elif not recovered and not message.trigger.startswith("file change"):
                # A save also wakes the file watcher: that second reload changes nothing and
                # stays quiet; an asked-for reload (leindex reload, SIGHUP) says so.
                self.log_line("reload", f"no changes ({message.trigger or 'reload'})")
        else:
            self.notify(
                f"{message.error}\nThe previous config stays in force.",
                title="Config not reloaded",
                severity="error",
                timeout=10,
            )
            self.log_line("reload", f"rejected: {message.error}", ok=False)
        if self.runtime_ready:
            self.refresh_status()

    def log_config_save(self, result: dict[str, Any]) -> None:
        """Put a save from the config editor in the Log: the file, what changed, its warnings."""
        reload = result.get("reload") or {}
        if reload.get("success"):
            changes = "; ".join(reload.get("changes") or []) or "no changes"
            self.log_line("config saved", f"{result.get('path')}: {changes}")
        else:
            self.log_line("config saved", f"reload failed: {reload.get('error')}", ok=False)
        self._note_config_outcome(bool(reload.get("success")), reload.get("error"))
        for warning in result.get("warnings") or []:
            self.log_line("config warning", str(warning), ok=False)
        # The file watcher's reload of the same save must not log them a second time.
        self.config_problems.also_logged(map(str, result.get("warnings") or []))

    def log_line(self, action: str, text: str, *, ok: bool = True, freed_mb: float | None = None):
        """Append a line to the dashboard's action log."""
        self.dashboard.action_log.log_action(self.clock(), action, text, ok=ok, freed_mb=freed_mb)

    # ----------------------------------------------------------------- memory actions

    @work(thread=True, group="memory-actions", exit_on_error=False)
    def run_memory_action(self, action: str, options: dict[str, Any]) -> ActionOutcome:
        """Run one `manage_memory` action off the event loop."""
        return ActionOutcome(action, api.manage_memory(action, trigger="key", **options))

    def _start_memory_action(self, action: str, **options: Any) -> None:
        if not self.runtime_ready:
            self.notify("the engine is still starting", severity="warning")
            return
        self.notify(f"{action} running…", timeout=2)
        worker = self.run_memory_action(action, options)
        self._action_workers[worker] = action

    def action_cleanup(self) -> None:
        """Drop old cache entries and collect garbage."""
        self._start_memory_action("cleanup")

    def action_spill(self) -> None:
        """Spill cached queries and loaded files to disk."""
        self._start_memory_action("spill")

    def action_gc(self) -> None:
        """Run the garbage collector and give freed memory back to the OS."""
        self._start_memory_action("gc")

    def action_evict(self) -> None:
        """Ask for the eviction parameters, then evict."""
        status = self.last_status
        priorities = (
            {project.name: project.priority for project in status.projects} if status else {}
        )
        current_mb = status.current_mb if status else 0.0

        def evict(request: EvictRequest | None) -> None:
            if request is not None:
                self._start_memory_action(
                    "evict",
                    target_mb=request.target_mb,
                    priority_threshold=request.priority_threshold,
                    excluded_projects=list(request.excluded_projects),
                )

        self.push_screen(EvictModal(priorities, current_mb), evict)

    @work(thread=True, group="memory-actions", exit_on_error=False)
    def run_reload(self) -> ActionOutcome:
        """Reload the config through the one reload path."""
        return ActionOutcome("reload", api.reload_config())

    def action_reload_config(self) -> None:
        """Re-read the config files now (the same path as SIGHUP and the file watcher)."""
        self._action_workers[self.run_reload()] = "reload"

    def action_cycle_priority(self) -> None:
        """Cycle the priority of the project selected on the Projects table."""
        self.dashboard.query_one(ProjectsTable).action_cycle_priority()

    @on(ProjectsTable.PriorityChangeRequested)
    def change_priority(self, message: ProjectsTable.PriorityChangeRequested) -> None:
        worker = self.run_set_priority(message.project, message.priority)
        self._action_workers[worker] = "priority"

    @work(thread=True, group="memory-actions", exit_on_error=False)
    def run_set_priority(self, project: str, priority: str) -> ActionOutcome:
        """Set a project's eviction priority through the API."""
        result = api.set_project_priority(project, priority)
        summary = {"success": True, **(result if isinstance(result, dict) else {})}
        summary.setdefault("changes", [f"{project}: priority {priority}"])
        return ActionOutcome("priority", summary)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every action's outcome lands here: logged, notified, and never a crash."""
        worker = event.worker
        if worker.group == "lifecycle":
            self._lifecycle_worker_changed(worker, event.state)
            return
        action = self._action_workers.get(worker)
        if action is None or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        del self._action_workers[worker]
        if event.state == WorkerState.ERROR:
            self.notify(f"{action} failed: {worker.error}", severity="error", timeout=8)
            self.log_line(action, f"failed: {worker.error}", ok=False)
        else:
            outcome: ActionOutcome = worker.result
            text, ok, freed_mb = describe_result(action, outcome.result)
            freed = f", {measured_text(freed_mb)}" if freed_mb is not None else ""
            if action != "reload" or not ok:
                self.notify(f"{action}: {text}{freed}", severity="information" if ok else "error")
            self.log_line(action, text, ok=ok, freed_mb=freed_mb)
            if action == "reload":
                error = outcome.result.get("error")
                self._note_config_outcome(ok, None if error is None else str(error))
        if self.runtime_ready:
            self.refresh_status()

    def _lifecycle_worker_changed(self, worker: Worker, state: WorkerState) -> None:
        if worker.name == "start_runtime":
            if state == WorkerState.SUCCESS:
                self._runtime_started()
            elif state == WorkerState.ERROR:
                self.sub_title = "engine failed to start"
                self.notify(f"engine failed to start: {worker.error}", severity="error", timeout=30)
        elif worker.name == "shutdown_runtime" and state in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
        ):
            if state == WorkerState.ERROR:
                # The app is closing: the message goes to stderr after the screen is restored.
                self.exit(return_code=1, message=f"leindex: saving state failed: {worker.error}")
            else:
                self.exit(return_code=0)

    # ----------------------------------------------------------------- screens

    def action_search(self) -> None:
        """Open the search screen; installed once, so query, mode and results are kept."""
        if not self.is_screen_installed("search"):
            self.install_screen(SearchScreen(self._project_names()), "search")
        screen = self.get_screen("search")
        if screen in self.screen_stack:
            return
        if isinstance(screen, SearchScreen):
            screen.set_project_names(self._project_names())
        self.push_screen(screen)

    def action_edit_config(self) -> None:
        """Open the config editor."""
        self.push_screen(ConfigEditorScreen(self._project_names()))

    def action_help(self) -> None:
        """Show every key."""
        self.push_screen(HelpScreen())

    def _project_names(self) -> list[str]:
        status = self.last_status
        return [project.name for project in status.projects] if status else []

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for action, title, help_text in PALETTE_ACTIONS:
            yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))
        for command in super().get_system_commands(screen):
            if command.title != "Quit":  # ours saves the state first
                yield command

    # ----------------------------------------------------------------- quit

    async def action_quit(self) -> None:
        """Graceful quit: persist the cache state (showing 'saving…' if slow), then exit."""
        if self._quitting:
            return
        self._quitting = True
        self.sub_title = "saving…"
        self.shutdown_runtime()
        self.set_timer(SAVING_NOTICE_DELAY_SECONDS, self._show_saving_notice)

    @work(thread=True, group="lifecycle", exit_on_error=False)
    def shutdown_runtime(self) -> None:
        """Stop monitoring and watchers and write cache_state.json (idempotent)."""
        if self.runtime is not None:
            self.runtime.shutdown()

    def _show_saving_notice(self) -> None:
        if self.is_running and not isinstance(self.screen, SavingScreen):
            self.push_screen(SavingScreen())


def run_app(paths: Sequence[str | Path]) -> int:
    """Run the dashboard over `paths` until the user quits; the exit status for the CLI."""
    from engine.runtime import Runtime

    runtime = Runtime(paths=tuple(Path(path) for path in paths))
    app = LeIndexApp(paths, runtime=runtime)

    def exit_after_signal(signum: int) -> None:
        # SIGTERM/SIGINT/hang-up: the runtime has already saved the state. Close the app from
        # its thread; if the terminal is gone the app may never get to finish, so a watchdog
        # ends the process (nothing is left to save) rather than leave it spinning unseen.
        watchdog = threading.Timer(EXIT_WATCHDOG_SECONDS, os._exit, args=(128 + signum,))
        watchdog.daemon = True
        watchdog.start()
        with contextlib.suppress(RuntimeError):  # the app may have closed in the meantime
            app.call_from_thread(app.exit, return_code=128 + signum)

    # Signal handlers can only be installed from the main thread, before the app takes over.
    runtime.install_signal_handlers(on_terminate=exit_after_signal, owns_terminal=True)
    try:
        app.run()
    finally:
        runtime.shutdown()  # idempotent: covers an exit that skipped the graceful path
    return_code = app.return_code or 0
    if return_code > 128 and not controlling_terminal_alive():
        # Ended by a hang-up: the state is saved, and flushing output to the dead terminal at
        # interpreter exit would only turn the exit status into 120.
        os._exit(return_code)
    return return_code
