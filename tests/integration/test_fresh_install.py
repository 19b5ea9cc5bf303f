"""A release a newcomer can install: the built wheel carries its non-Python files, and the
entry point it installs runs `--version`, `config show` and `--headless` (tools/list); every
`leindex` help screen ends with examples that parse."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from engine import __version__
from leindex_tui import cli

REPO_ROOT = Path(__file__).resolve().parents[2]
# Seconds; building takes a few (the isolated build needs a package index for setuptools).
BUILD_TIMEOUT = 180
RUN_TIMEOUT = 60

pytestmark = pytest.mark.timeout(300)


def _package_data_files() -> set[str]:
    """Non-Python files tracked under the packages (styles, templates): all must ship."""
    listed = subprocess.run(
        ["git", "ls-files", "engine", "leindex_tui"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {name for name in listed if not name.endswith(".py")}


def _build_wheel(source: Path, out: Path) -> Path:
    """`pip wheel` without build isolation (this venv's setuptools), else with it."""
    attempts = []
    for extra in (["--no-build-isolation"], []):
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", *extra, "-q", "-w", str(out), "."],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
        )
        wheels = sorted(out.glob("leindex_tui-*.whl"))
        if done.returncode == 0 and wheels:
            return wheels[0]
        attempts.append(f"pip wheel {' '.join(extra)}: {done.stderr[-1500:]}")
    pytest.fail("the wheel could not be built:\n" + "\n".join(attempts))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(wheel, install target, env): the wheel built from a copy of the source tree and
    installed with pip into its own directory (no venv is changed)."""
    root = tmp_path_factory.mktemp("release")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "CHANGELOG.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    for package in ("engine", "leindex_tui"):
        shutil.copytree(
            REPO_ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    wheel = _build_wheel(source, root / "dist")
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q"]
        + ["--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEINDEX_")}
    env["PYTHONPATH"] = str(target)  # ahead of this venv's editable install
    env["LEINDEX_HOME"] = str(root / "home")
    return wheel, target, env


def _run(installed, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    _wheel, target, env = installed
    return subprocess.run(
        [str(target / "bin" / "leindex"), *args],
        cwd=target.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        **kwargs,
    )


def test_the_wheel_carries_every_style_and_template_file(installed) -> None:
    wheel, _target, _env = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    data = _package_data_files()

    assert "leindex_tui/app.tcss" in data
    assert data <= names, data - names


def test_the_installed_entry_point_runs_from_the_wheel(installed) -> None:
    _wheel, target, env = installed
    where = subprocess.run(
        [sys.executable, "-c", "import leindex_tui; print(leindex_tui.__file__)"],
        cwd=target.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert Path(where.stdout.strip()).is_relative_to(target)
    assert (target / "leindex_tui" / "app.tcss").is_file()


def test_installed_leindex_version_and_config_show(installed) -> None:
    version = _run(installed, "--version")
    config = _run(installed, "config", "show")

    assert version.returncode == 0 and version.stdout.strip() == f"leindex {__version__}"
    assert config.returncode == 0, config.stderr
    assert "total_budget_mb" in config.stdout


def test_installed_headless_answers_tools_list(installed) -> None:
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "fresh-install-test", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    _wheel, target, env = installed
    server = subprocess.Popen(
        [str(target / "bin" / "leindex"), "--headless"],
        cwd=target.parent,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        server.stdin.write("".join(json.dumps(message) + "\n" for message in messages))
        server.stdin.flush()
        answer: dict = {}
        while answer.get("id") != 2:  # the pytest timeout ends a server that never answers
            line = server.stdout.readline()
            assert line, "the server closed stdout without answering tools/list"
            answer = json.loads(line)
    finally:
        server.stdin.close()
        server.wait(RUN_TIMEOUT)
        server.stdout.close()

    tools = {tool["name"] for tool in answer["result"]["tools"]}
    assert {"search", "get_diagnostics", "manage_memory"} <= tools
    assert server.returncode == 0


def _subcommand_parser(name: str) -> argparse.ArgumentParser:
    module_name, help_ = cli.SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    parser = cli.ArgumentParser(prog=f"leindex {name}", description=help_)
    module.add_arguments(parser)
    return parser


def _example_commands(help_text: str) -> list[list[str]]:
    examples = help_text.split("examples:\n", 1)[1]
    return [shlex.split(line.split(" # ")[0]) for line in examples.splitlines() if line.strip()]


@pytest.mark.parametrize("name", sorted(cli.SUBCOMMANDS))
def test_each_subcommand_help_ends_with_examples_that_parse(name: str, capsys) -> None:
    assert cli.main([name, "--help"]) == 0
    examples = _example_commands(capsys.readouterr().out)

    assert examples
    for argv in examples:
        assert argv[:2] == ["leindex", name], argv
        _subcommand_parser(name).parse_args(argv[2:])  # exits 2 on a bad example


def test_top_level_help_has_examples(capsys) -> None:
    assert cli.main(["--help"]) == 0
    examples = _example_commands(capsys.readouterr().out)

    assert ["leindex"] in examples
    assert any("--headless" in argv for argv in examples)
