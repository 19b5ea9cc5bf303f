"""The config editor's starting text for a file that does not exist yet."""

from __future__ import annotations

from pathlib import Path

from engine import api
from engine.config import get_config


def test_missing_global_file_reads_as_a_commented_template(tmp_leindex_home: Path) -> None:
    result = api.read_config_file("global")

    assert result["exists"] is False
    lines = result["text"].splitlines()
    assert lines and all(line.startswith("#") for line in lines)
    for key in ("total_budget_mb: 3072", "soft_limit_percent: 0.8", "priority: MEDIUM"):
        assert key in result["text"]


def test_saving_the_template_unchanged_changes_nothing(tmp_leindex_home: Path) -> None:
    before = get_config()
    template = api.read_config_file("global")["text"]

    saved = api.save_config_file(template, "global")

    assert saved["success"] is True, saved
    assert get_config().memory == before.memory
    assert api.read_config_file("global")["exists"] is True


def test_uncommenting_a_template_line_applies_it(tmp_leindex_home: Path) -> None:
    template = api.read_config_file("global")["text"]
    edited = template.replace("# memory:", "memory:").replace(
        "#   total_budget_mb: 3072", "  total_budget_mb: 2048"
    )

    saved = api.save_config_file(edited, "global")

    assert saved["success"] is True, saved
    assert get_config().memory.total_budget_mb == 2048


def test_missing_project_file_template_shows_the_project_defaults(tmp_leindex_home: Path) -> None:
    result = api.read_config_file("project", "core-api")

    assert result["exists"] is False
    assert "'core-api'" in result["text"]
    assert "#   max_loaded_files: 100" in result["text"]
    assert api.save_config_file(result["text"], "project", "core-api")["success"] is True
