"""Config problems are visible: in the Log and in the header, until the file is fixed.

A real Runtime (real engine over the small corpus, fake memory probe) under the pilot.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.pilot import Pilot

from leindex_tui import cli
from leindex_tui.app import LeIndexApp
from leindex_tui.config_problems import ConfigProblems
from tests.tui.conftest import settle, wait_until
from tests.tui.test_app_engine import make_runtime

INVALID_BUDGET = "memory:\n  total_budget_mb: 1024\n  soft_limit_percent: 7\n"
MISSPELT_KEY = "memory:\n  sofft_limit_percent: 0.7\n"
VALID = "memory:\n  total_budget_mb: 2048\n"


def write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.yaml"
    path.write_text(text)
    return path


def log_lines(app: LeIndexApp) -> list[str]:
    return app.dashboard.action_log.entries


def logged(app: LeIndexApp, *parts: str) -> bool:
    return any(all(part in line for part in parts) for line in log_lines(app))


async def started(pilot: Pilot) -> LeIndexApp:
    app: LeIndexApp = pilot.app  # type: ignore[assignment]
    await wait_until(pilot, lambda: app.runtime_ready and app.last_status is not None)
    await settle(pilot)
    return app


async def test_an_invalid_file_at_start_up_is_in_the_log_and_stays_in_the_header(
    tmp_leindex_home: Path, small_corpus: Path, fake_probe
) -> None:
    config = write_config(tmp_leindex_home, INVALID_BUDGET)
    runtime = make_runtime(tmp_leindex_home, small_corpus, fake_probe)
    app = LeIndexApp(runtime=runtime, refresh_seconds=0.2)
    try:
        async with app.run_test(size=(200, 50)) as pilot:
            await started(pilot)
            problem = f"running on defaults: {config}:3: memory.soft_limit_percent = 7"

            assert logged(app, "config", problem)
            assert problem in app.sub_title
            # Still there after more status ticks: it is not a toast.
            await pilot.pause(0.5)
            app.refresh_status()
            await settle(pilot)
            assert problem in app.sub_title
            assert app.last_status.budget_mb != 1024  # the defaults really are in force
    finally:
        runtime.shutdown()


async def test_an_unknown_key_is_logged_with_the_suggested_key(
    tmp_leindex_home: Path, small_corpus: Path, fake_probe
) -> None:
    config = write_config(tmp_leindex_home, MISSPELT_KEY)
    runtime = make_runtime(tmp_leindex_home, small_corpus, fake_probe)
    app = LeIndexApp(runtime=runtime, refresh_seconds=0.2)
    try:
        async with app.run_test(size=(200, 50)) as pilot:
            await started(pilot)

            assert logged(
                app,
                "config warning",
                f"{config}:2: memory.sofft_limit_percent",
                "did you mean 'soft_limit_percent'?",
            )
            assert app.config_problem is None
            assert "⚠" not in app.sub_title
    finally:
        runtime.shutdown()


async def test_fixing_the_file_logs_config_ok_again_and_clears_the_header(
    tmp_leindex_home: Path, small_corpus: Path, fake_probe
) -> None:
    config = write_config(tmp_leindex_home, INVALID_BUDGET)
    runtime = make_runtime(tmp_leindex_home, small_corpus, fake_probe, watch_config=True)
    app = LeIndexApp(runtime=runtime, refresh_seconds=0.2)
    try:
        async with app.run_test(size=(200, 50)) as pilot:
            await started(pilot)
            assert "running on defaults" in app.sub_title
            assert runtime.wait_watcher_ready(5)

            config.write_text(VALID)
            await wait_until(pilot, lambda: logged(app, "config", "config OK again"))
            await wait_until(pilot, lambda: app.last_status.budget_mb == 2048)

            assert "running on defaults" not in app.sub_title
            assert app.config_problem is None
    finally:
        runtime.shutdown()


async def test_a_bad_reload_after_a_good_start_stays_in_the_header_until_fixed(
    tmp_leindex_home: Path, small_corpus: Path, fake_probe
) -> None:
    config = write_config(tmp_leindex_home, VALID)
    runtime = make_runtime(tmp_leindex_home, small_corpus, fake_probe)
    app = LeIndexApp(runtime=runtime, refresh_seconds=0.2)
    try:
        async with app.run_test(size=(200, 50)) as pilot:
            await started(pilot)
            config.write_text(INVALID_BUDGET)

            await pilot.press("r")
            await wait_until(pilot, lambda: logged(app, "reload", "soft_limit_percent"))
            assert f"the previous config stays: {config}:3" in app.sub_title

            config.write_text(VALID)
            await pilot.press("r")
            await wait_until(pilot, lambda: logged(app, "config OK again"))
            assert app.config_problem is None
    finally:
        runtime.shutdown()


async def test_leindex_reload_with_no_changes_is_logged(
    tmp_leindex_home: Path, small_corpus: Path, fake_probe
) -> None:
    write_config(tmp_leindex_home, VALID)
    runtime = make_runtime(tmp_leindex_home, small_corpus, fake_probe)
    app = LeIndexApp(runtime=runtime, refresh_seconds=0.2)
    try:
        async with app.run_test(size=(200, 50)) as pilot:
            await started(pilot)

            # The command line's `leindex reload`, reaching this app's runtime over its socket.
            status = await asyncio.to_thread(cli.main, ["reload"])

            assert status == 0
            await wait_until(pilot, lambda: logged(app, "reload", "no changes (leindex reload)"))
    finally:
        runtime.shutdown()


def test_a_warning_is_logged_once_while_it_lasts_and_again_when_it_returns() -> None:
    problems = ConfigProblems()
    warning = "config.yaml:2: memory.sofft_limit_percent: unknown key, ignored"

    first = problems.warnings([warning])
    repeated = problems.warnings([warning])
    problems.warnings([])
    returned = problems.warnings([warning])

    assert [entry.text for entry in first] == [warning]
    assert repeated == []
    assert [entry.text for entry in returned] == [warning]


def test_a_warning_an_editor_save_logged_is_not_logged_again_by_its_reload() -> None:
    problems = ConfigProblems()
    warning = "config.yaml:2: memory.sofft_limit_percent: unknown key, ignored"

    problems.also_logged([warning])

    assert problems.warnings([warning]) == []
