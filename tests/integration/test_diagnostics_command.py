"""`leindex diagnostics`: the get_diagnostics JSON of an in-process engine, on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leindex_tui import cli


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = cli.main(["diagnostics", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_memory_report_has_the_guides_fields(
    small_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, str(small_corpus))

    assert status == 0, err
    report = json.loads(out)
    assert set(report) == {
        "timestamp",
        "process_memory_mb",
        "peak_memory_mb",
        "heap_size_mb",
        "gc_objects",
        "active_threads",
        "loaded_files",
        "cached_queries",
        "soft_limit_exceeded",
        "hard_limit_exceeded",
        "memory_breakdown",
    }
    assert report["memory_breakdown"]["indexes_mb"] > 0


def test_projects_report_lists_the_indexed_paths(
    small_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, "--type", "projects", str(small_corpus))

    assert status == 0, err
    (project,) = json.loads(out)["projects"]
    assert project["path"] == str(small_corpus.resolve())
    assert project["indexed"] is True and project["files_total"] == project["files_done"] > 0


def test_config_report_needs_no_path_and_writes_nothing_to_home(
    tmp_leindex_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, "--type", "config")

    assert status == 0, err
    assert json.loads(out)["sources"]["memory.total_budget_mb"] == "default"
    leftovers = list(tmp_leindex_home.rglob("*")) if tmp_leindex_home.exists() else []
    assert leftovers == [], "diagnostics must not write indexes, state or a pidfile"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--type", "disk"], "invalid choice: 'disk'"),
        (["/definitely/not/here"], "/definitely/not/here: no such directory"),
        (["README"], "not a directory"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    small_corpus: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    args = [str(small_corpus / "README.md") if arg == "README" else arg for arg in args]

    status, out, err = _run(capsys, *args)

    assert status == 2
    assert out == ""
    assert expected in err and len(err.strip().splitlines()) == 1, err
