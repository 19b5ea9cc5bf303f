"""The agent-facing file API: find_files, read_file, name-or-path projects, known projects
reopened after a restart (a new engine on the same home, no PATHs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine import api
from engine.index import set_engine
from engine.index.engine import Engine


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    root = tmp_path / "Textualize+textual"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "alpha.py").write_text("".join(f"line {i} zebrafish\n" for i in range(1, 51)))
    (root / "top.py").write_text("def top():\n    return 1\n")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    (tmp_path / "secret.txt").write_text("outside\n")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    return root


@pytest.fixture
def engine(tmp_leindex_home: Path):
    made: list[Engine] = []

    def start() -> Engine:
        current = Engine(home=tmp_leindex_home, watch_files=False)
        set_engine(current)
        made.append(current)
        return current

    yield start
    for current in made:
        current.close()
    set_engine(None)


def test_find_and_read_by_name_or_path(engine, project_dir: Path) -> None:
    engine()
    api.index_project(str(project_dir))
    for ref in (str(project_dir), "Textualize+textual", "Textualize-textual"):
        found = api.find_files("**/*.py", project=ref)
        assert {f["path"] for f in found["files"]} == {"pkg/alpha.py", "top.py"}
    assert [f["path"] for f in api.find_files("re:^pkg/")["files"]] == ["pkg/alpha.py"]
    read = api.read_file("pkg/alpha.py", start_line=3, end_line=4)
    assert read["content"] == "3\tline 3 zebrafish\n4\tline 4 zebrafish"
    assert read["total_lines"] == 50
    huge = api.read_file("pkg/alpha.py", start_line=1, end_line=10**9)
    assert huge["end_line"] == 50
    hits = api.search("zebrafish", project="Textualize+textual")
    assert hits["count"] >= 1


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../secret.txt", "'..'"),
        ("/etc/passwd", "outside"),
        ("link.txt", "symlink"),
        ("blob.bin", "binary"),
        ("missing.py", "no such file"),
    ],
)
def test_bad_paths_are_clear_errors(engine, project_dir: Path, path: str, message: str) -> None:
    engine()
    api.index_project(str(project_dir))
    with pytest.raises(api.ApiError, match=message):
        api.read_file(path, project="Textualize+textual")


def test_unknown_project_is_an_error(engine, project_dir: Path) -> None:
    engine()
    api.index_project(str(project_dir))
    with pytest.raises(api.ApiError, match="unknown project"):
        api.find_files("*.py", project="nope")


def test_a_restart_without_paths_lists_and_searches_the_known_project(
    engine, project_dir: Path
) -> None:
    first = engine()
    api.index_project(str(project_dir))
    first.close()
    engine()
    listed = api.list_known_projects()["projects"]
    assert [(p["name"], p["status"]) for p in listed] == [("Textualize-textual", "known")]
    assert api.search("zebrafish")["count"] >= 1
    assert api.list_known_projects()["projects"][0]["status"] == "indexed"
    removed = api.remove_project(str(project_dir))
    assert removed["project"] == "Textualize-textual"
    assert api.refresh_project("Textualize+textual")["project"]["indexed"] is True
