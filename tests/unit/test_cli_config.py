"""`leindex config validate` and `leindex config show`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from leindex_tui.cli import main


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_validate_without_files_is_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate"]) == 0
    assert capsys.readouterr().out.startswith("OK")


def test_validate_ok_prints_warnings_with_lines(tmp_leindex_home: Path, capsys) -> None:
    path = write(tmp_leindex_home / "config.yaml", "memory:\n  sofft_limit_percent: 0.7\n")

    assert main(["config", "validate"]) == 0

    captured = capsys.readouterr()
    assert captured.out.startswith("OK") and str(path) in captured.out
    assert f"{path}:2" in captured.err and "soft_limit_percent" in captured.err


def test_validate_error_exits_2_with_file_line_key(tmp_leindex_home: Path, capsys) -> None:
    path = write(tmp_leindex_home / "config.yaml", "memory:\n  hard_limit_percent: 1.3\n")

    assert main(["config", "validate"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.strip().splitlines()
    assert f"{path}:2: memory.hard_limit_percent = 1.3" in line


def test_validate_env_error_names_the_variable(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("LEINDEX_MEMORY_MONITORING_INTERVAL_SECONDS", "often")

    assert main(["config", "validate"]) == 2
    assert "env LEINDEX_MEMORY_MONITORING_INTERVAL_SECONDS" in capsys.readouterr().err


def _annotations(out: str) -> dict[str, str]:
    """`key: value  # source` lines → {key: source} (last one wins for repeated keys)."""
    result = {}
    for line in out.splitlines():
        if "  # " in line and not line.lstrip().startswith("#"):
            text, source = line.split("  # ", 1)
            result[text.strip().split(":")[0]] = source.strip()
    return result


def test_show_annotates_each_value_with_its_source(
    tmp_leindex_home: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    global_file = write(
        tmp_leindex_home / "config.yaml",
        "memory:\n  total_budget_mb: 4096\n  monitoring:\n    interval_seconds: 10\n",
    )
    project_file = write(tmp_leindex_home / "projects" / "api.yaml", "memory:\n  priority: HIGH\n")
    monkeypatch.setenv("LEINDEX_MEMORY_SOFT_LIMIT_PERCENT", "0.7")

    assert main(["config", "show"]) == 0

    out = capsys.readouterr().out
    notes = _annotations(out)
    assert notes["total_budget_mb"] == f"global file {global_file}"
    assert notes["interval_seconds"] == f"global file {global_file}"
    assert notes["soft_limit_percent"] == "env LEINDEX_MEMORY_SOFT_LIMIT_PERCENT"
    assert notes["hard_limit_percent"] == "default"
    assert notes["priority"] == f"project file {project_file}"
    data = yaml.safe_load(out)  # the output is YAML
    assert data["memory"]["total_budget_mb"] == 4096
    assert data["memory"]["soft_limit_percent"] == 0.7
    assert data["memory"]["spill"]["directory"] == str(tmp_leindex_home / "spill")
    assert data["projects"]["api"]["memory"]["priority"] == "HIGH"
    assert "soft_limit_mb = 2867.2" in out  # derived values are shown as a comment


def test_show_project_resolves_each_setting_with_source(tmp_leindex_home: Path, capsys) -> None:
    global_file = write(
        tmp_leindex_home / "config.yaml",
        "memory:\n  project_defaults:\n    max_cached_queries: 70\n",
    )
    project_file = write(tmp_leindex_home / "projects" / "api.yaml", "memory:\n  priority: LOW\n")

    assert main(["config", "show", "--project", "api"]) == 0

    data_text = capsys.readouterr().out
    section = data_text[data_text.index("project_settings:") :]
    notes = _annotations(section)
    assert notes["priority"] == f"project file {project_file}"
    assert notes["max_cached_queries"].startswith(f"global file {global_file}")
    assert notes["max_loaded_files"].startswith("default")
    data = yaml.safe_load(data_text)
    assert data["project_settings"] == {
        "name": "api",
        "max_loaded_files": 100,
        "max_cached_queries": 70,
        "priority": "LOW",
    }


def test_show_rejects_an_invalid_project_name(capsys) -> None:
    assert main(["config", "show", "--project", "../x"]) == 2
    assert "not a valid project name" in capsys.readouterr().err


def test_show_with_invalid_config_exits_2(tmp_leindex_home: Path, capsys) -> None:
    write(tmp_leindex_home / "config.yaml", "memory: [")

    assert main(["config", "show"]) == 2
    assert str(tmp_leindex_home / "config.yaml") in capsys.readouterr().err
