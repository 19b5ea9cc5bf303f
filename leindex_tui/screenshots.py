"""`make screenshots`: SVGs of the real app over a real engine, with a scripted memory probe.

Run as `python -m leindex_tui.screenshots OUT_DIR`. Everything happens in a temporary
LEINDEX_HOME over a generated corpus; only the RSS figures come from the scripted probe (so
the gauge can be shown at NORMAL and HARD without using gigabytes), and the clock is fixed so
the times in the tables read the same on every run. Monitoring (automatic enforcement) is off
in this home, so the level is read straight from the RSS and the shots show what the keys do,
not what the manager did on its own first.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

MB = 1024 * 1024
FIXED_TIME = 1767268800.0  # 2026-01-01 12:00:00 UTC
TERMINAL_SIZE = (120, 34)


class ScriptedProbe:
    """A memory probe whose RSS the script sets; the split follows the guide's proportions."""

    def __init__(self, rss_mb: float) -> None:
        self.rss_mb = rss_mb

    def rss_bytes(self) -> int:
        return int(self.rss_mb * MB)

    def sample(self):  # noqa: ANN201 - engine.memory.probe.ProbeSample, imported lazily
        from engine.memory.probe import ProbeSample

        rss = self.rss_bytes()
        heap = int(rss * 0.39)
        stack = 50 * MB
        code = 100 * MB
        return ProbeSample(
            rss=rss, anon=heap + stack, file=rss - heap - stack, stack=stack, code=code, heap=heap
        )

    def mapped_bytes(self, prefix: object) -> int:
        return int(self.rss_mb * 0.2 * MB)

    def return_memory_to_os(self) -> bool:
        return True


def write_project(root: Path, name: str, modules: int) -> Path:
    """A small generated Python project."""
    project = root / name
    for index in range(modules):
        path = project / "src" / f"{name.replace('-', '_')}_{index:02d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f'"""Module {index} of {name}."""\n\n\n'
            f"class ReloadManager{index}:\n"
            f"    def reload_config(self, path):\n"
            f"        return parse_config(path, strict=True)\n\n\n"
            f"def parse_config(path, strict=False):\n"
            f"    with open(path) as handle:\n"
            f"        return handle.read().split()\n" * 20,
            encoding="utf-8",
        )
    return project


async def wait_for(condition: Callable[[], bool], pilot, timeout: float = 20.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"screenshot state not reached: {condition}")
        await pilot.pause(0.05)


async def settle(pilot) -> None:  # noqa: ANN001
    from textual.widgets import Input, TextArea

    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.1)
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    for widget in pilot.app.screen.query(TextArea):
        widget.cursor_blink = False
    await pilot.pause(0.1)


async def take_all(out_dir: Path, home: Path, corpus_root: Path) -> list[Path]:
    from textual.widgets import Input, TabbedContent, TextArea

    from engine import api
    from engine.runtime import Runtime
    from leindex_tui.app import LeIndexApp

    probe = ScriptedProbe(rss_mb=1995)
    projects = [
        write_project(corpus_root, "core-api", 30),
        write_project(corpus_root, "legacy", 12),
    ]
    runtime = Runtime(home=home, paths=projects, probe=probe, clock=lambda: FIXED_TIME)
    app = LeIndexApp(runtime=runtime, clock=lambda: FIXED_TIME, refresh_seconds=0.2)
    written: list[Path] = []

    def save(name: str) -> None:
        path = out_dir / f"{name}.svg"
        path.write_text(app.export_screenshot(title="LeIndex"), encoding="utf-8")
        written.append(path)

    try:
        async with app.run_test(size=TERMINAL_SIZE) as pilot:
            await wait_for(lambda: app.runtime_ready, pilot)
            await wait_for(
                lambda: (
                    app.last_status is not None
                    and len(app.last_status.projects) == 2
                    and all(project.indexed for project in app.last_status.projects)
                ),
                pilot,
            )
            for query in ("ReloadManager3", "parse_config", "reload_config", "strict"):
                api.search(query)
            await pilot.pause(0.5)
            await settle(pilot)
            save("dashboard")

            probe.rss_mb = 2900  # 94 % of 3072 MB: HARD
            await wait_for(lambda: app.last_status.level == "HARD", pilot)
            await pilot.pause(0.5)
            await settle(pilot)
            save("dashboard-hard")

            await pilot.press("e")
            await settle(pilot)
            app.screen.query_one("#evict-target", Input).value = "460"
            await settle(pilot)
            save("evict-modal")
            await pilot.press("enter")
            await settle(pilot)
            # The scripted RSS cannot fall by itself: set it to where it would be after freeing
            # that much, so the shot shows the gauge back at NORMAL beside the history row.
            probe.rss_mb = 2200
            await wait_for(lambda: bool(app.last_status.evictions), pilot)
            app.screen.query_one(TabbedContent).active = "tab-evictions"
            await wait_for(lambda: app.last_status.level == "NORMAL", pilot)
            await pilot.pause(0.5)
            await settle(pilot)
            app.clear_notifications()
            await settle(pilot)
            save("dashboard-after-eviction")

            await pilot.press("o")
            await settle(pilot)
            app.screen.query_one("#editor-text", TextArea).load_text(
                "memory:\n  total_budget_mb: 3072\n  soft_limit_percent: 0.95\n"
                "  hard_limit_percent: 0.93\n  emergency_percent: 0.98\n"
            )
            await pilot.press("ctrl+s")
            await settle(pilot)
            save("config-editor-error")
            await pilot.press("escape")
            await settle(pilot)
            await pilot.click("#confirm-ok")  # the broken buffer is unsaved: discard it
            await settle(pilot)

            await pilot.press("slash")
            await settle(pilot)
            app.screen.query_one("#search-query", Input).value = "reload_config"
            await pilot.press("enter")
            await settle(pilot)
            app.clear_notifications()
            await settle(pilot)
            save("search")
            await pilot.press("escape")
            await pilot.press("question_mark")
            await settle(pilot)
            save("help")
            await pilot.press("escape")
    finally:
        runtime.shutdown()
    return written


def main(argv: list[str] | None = None) -> int:
    """Write the screenshots into the directory given as the first argument."""
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0] if args else "screenshots")
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ["TZ"] = "UTC"
    time.tzset()
    with tempfile.TemporaryDirectory(prefix="leindex-screenshots-") as scratch:
        home = Path(scratch) / "home"
        home.mkdir(mode=0o700)
        os.environ["LEINDEX_HOME"] = str(home)
        for name in [name for name in os.environ if name.startswith("LEINDEX_MEMORY_")]:
            del os.environ[name]
        (home / "config.yaml").write_text(
            "memory:\n  total_budget_mb: 3072\n  monitoring:\n    enabled: false\n",
            encoding="utf-8",
        )
        projects_dir = home / "projects"
        projects_dir.mkdir(mode=0o700)
        (projects_dir / "core-api.yaml").write_text("memory:\n  priority: HIGH\n")
        (projects_dir / "legacy.yaml").write_text("memory:\n  priority: LOW\n")
        written = asyncio.run(take_all(out_dir, home, Path(scratch) / "corpus"))
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
