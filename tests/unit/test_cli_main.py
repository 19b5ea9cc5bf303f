"""The top-level `leindex` command: version, help, paths, dispatch, errors."""

from __future__ import annotations

import subprocess
import sys
import types
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest

from engine import __version__
from leindex_tui import cli


def fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = ModuleSpec(name, None)
    for key, value in attributes.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"leindex {__version__}"


def test_version_through_the_installed_script() -> None:
    script = Path(sys.executable).parent / "leindex"
    if not script.exists():
        pytest.skip("console script not installed in this environment")

    done = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, cwd="/"
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"leindex {__version__}"


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("config", "search", "reload", "diagnostics", "--headless", "PATH"):
        assert name in out


@pytest.mark.parametrize("argv", [["--bogus"], ["config", "explode"], ["config"]])
def test_bad_arguments_are_one_line_exit_2(argv, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error" in err
    assert "Traceback" not in err


def test_missing_path_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    assert cli.main([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"leindex: error: no such directory: {tmp_path / 'nope'}"


def test_file_path_is_not_a_directory(tmp_path: Path, capsys) -> None:
    (tmp_path / "f.txt").write_text("x")

    assert cli.main([str(tmp_path / "f.txt")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_paths_go_to_run_app_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    fake_module(monkeypatch, "leindex_tui.app", run_app=lambda paths: calls.append(paths) or 0)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path)

    assert cli.main(["a", str(tmp_path / "b")]) == 0
    assert calls == [[str(tmp_path / "a"), str(tmp_path / "b")]]


def test_no_path_means_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    fake_module(monkeypatch, "leindex_tui.app", run_app=lambda paths: calls.append(paths) or 3)
    monkeypatch.chdir(tmp_path)

    assert cli.main([]) == 3  # the app's exit status is passed through
    assert calls == [[str(tmp_path.resolve())]]


def test_headless_goes_to_run_headless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    fake_module(
        monkeypatch, "leindex_tui.headless", run_headless=lambda paths: calls.append(paths) or 0
    )

    assert cli.main(["--headless", str(tmp_path)]) == 0
    assert calls == [[str(tmp_path)]]


def test_headless_without_paths_indexes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    fake_module(
        monkeypatch, "leindex_tui.headless", run_headless=lambda paths: calls.append(paths) or 0
    )
    monkeypatch.chdir(tmp_path)

    assert cli.main(["--headless"]) == 0
    assert calls == [[]]


def test_placeholder_when_the_tui_module_does_not_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(cli, "APP_RUNNER", ("leindex_tui.no_such_app_module", "run_app"))

    assert cli.main([str(tmp_path)]) == 0
    assert "not built yet" in capsys.readouterr().out


def test_subcommand_not_built_yet(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setitem(
        cli.SUBCOMMANDS, "frobnicate", ("leindex_tui.commands.frobnicate_missing", "x")
    )

    assert cli.main(["frobnicate", "--anything"]) == 2
    assert capsys.readouterr().err.strip() == "leindex frobnicate: not yet available"


def test_subcommand_module_gets_its_own_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    fake_module(
        monkeypatch,
        "leindex_tui.commands.fake",
        add_arguments=lambda parser: parser.add_argument("query"),
        run=lambda args: seen.append(args.query) or 0,
    )
    monkeypatch.setitem(cli.SUBCOMMANDS, "fake", ("leindex_tui.commands.fake", "x"))

    assert cli.main(["fake", "needle"]) == 0
    assert seen == ["needle"]


def _exploding_run(args) -> int:
    raise RuntimeError("kaboom\nsecond line")


@pytest.fixture
def exploding_command(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_module(
        monkeypatch,
        "leindex_tui.commands.boom",
        add_arguments=lambda parser: None,
        run=_exploding_run,
    )
    monkeypatch.setitem(cli.SUBCOMMANDS, "boom", ("leindex_tui.commands.boom", "x"))


def test_unexpected_error_is_one_line_exit_1(exploding_command, capsys) -> None:
    assert cli.main(["boom"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: kaboom" in err and "Traceback" not in err


def test_leindex_debug_shows_the_traceback(
    exploding_command, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("LEINDEX_DEBUG", "1")

    assert cli.main(["boom"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_keyboard_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def interrupted(paths):
        raise KeyboardInterrupt

    fake_module(monkeypatch, "leindex_tui.app", run_app=interrupted)

    assert cli.main([str(tmp_path)]) == 130
