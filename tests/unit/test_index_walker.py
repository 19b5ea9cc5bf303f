"""The walker: ignore rules, skipped files and the reasons it reports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.index.walker import IgnoreRules, read_source, walk_project


def walked(root: Path, **kwargs) -> list[str]:
    return [entry.rel for entry in walk_project(root, IgnoreRules(root), **kwargs).files]


def test_gitignore_and_default_dirs_are_skipped(small_corpus: Path):
    report = walk_project(small_corpus, IgnoreRules(small_corpus))
    files = [entry.rel for entry in report.files]
    assert "src/engine_core.py" in files and "docs/notes.md" in files
    for ignored in ("debug.log", "secret/keys.py", "node_modules/lib/index.js", "build/out.py"):
        assert ignored not in files
    assert report.skipped["ignored"] >= 2  # debug.log and secret/
    assert report.skipped["ignored_dir"] >= 2  # node_modules and build


def test_nested_gitignore_overrides_parent(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / ".gitignore").write_text("*.gen\n")
    (tmp_path / "a" / ".gitignore").write_text("!keep.gen\n")
    (tmp_path / "a" / "keep.gen").write_text("x")
    (tmp_path / "a" / "drop.gen").write_text("x")
    assert "a/keep.gen" in walked(tmp_path)
    assert "a/drop.gen" not in walked(tmp_path)


def test_extra_patterns_exclude(tmp_path: Path):
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "x.py").write_text("x")
    (tmp_path / "y.py").write_text("y")
    report = walk_project(tmp_path, IgnoreRules(tmp_path, ("vendor/",)))
    assert [entry.rel for entry in report.files] == ["y.py"]


def test_oversized_files_are_skipped(tmp_path: Path):
    (tmp_path / "big.txt").write_text("x" * 2000)
    (tmp_path / "small.txt").write_text("x")
    report = walk_project(tmp_path, IgnoreRules(tmp_path), max_file_bytes=1000)
    assert [entry.rel for entry in report.files] == ["small.txt"]
    assert report.skipped["oversized"] == 1


def test_broken_and_looping_symlinks_do_not_stop_the_walk(tmp_path: Path):
    (tmp_path / "real.py").write_text("x")
    (tmp_path / "broken").symlink_to(tmp_path / "missing")
    (tmp_path / "loop").symlink_to(tmp_path)
    (tmp_path / "self").symlink_to(tmp_path / "self")
    report = walk_project(tmp_path, IgnoreRules(tmp_path))
    assert [entry.rel for entry in report.files] == ["real.py"]
    assert report.skipped["symlink"] == 3


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read every directory")
def test_unreadable_directory_is_counted_not_fatal(tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "x.py").write_text("x")
    (tmp_path / "ok.py").write_text("x")
    locked.chmod(0)
    try:
        report = walk_project(tmp_path, IgnoreRules(tmp_path))
    finally:
        locked.chmod(0o700)
    assert [entry.rel for entry in report.files] == ["ok.py"]
    assert report.skipped["unreadable"] == 1


def test_special_files_are_skipped(tmp_path: Path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "ok.py").write_text("x")
    report = walk_project(tmp_path, IgnoreRules(tmp_path))
    assert [entry.rel for entry in report.files] == ["ok.py"]
    assert report.skipped["not_regular_file"] == 1


def test_read_source_classifies_content(tmp_path: Path):
    (tmp_path / "bin").write_bytes(b"abc\x00def")
    (tmp_path / "latin").write_bytes(b"caf\xe9\n")
    (tmp_path / "bom").write_bytes(b"\xef\xbb\xbfhello")
    assert read_source(tmp_path / "bin").skip_reason == "binary"
    latin = read_source(tmp_path / "latin")
    assert latin.lossy and latin.text == "caf\ufffd\n"
    assert read_source(tmp_path / "bom").text == "hello"
    assert read_source(tmp_path / "missing").skip_reason == "unreadable"
    (tmp_path / "grown").write_text("x" * 50)
    assert read_source(tmp_path / "grown", max_bytes=10).skip_reason == "oversized"


def test_is_ignored_checks_parent_directories(small_corpus: Path):
    rules = IgnoreRules(small_corpus)
    assert rules.is_ignored("secret/keys.py")
    assert rules.is_ignored("node_modules/lib/index.js")
    assert rules.is_ignored("debug.log")
    assert not rules.is_ignored("src/parser.py")


def test_one_joined_search_decides_as_pathspec_does(tmp_path: Path):
    import pathspec

    lines = ["*.o", "!keep.o", "/out/", "docs/**/tmp", "*.[ch]~", "# comment", "", "!/src/"]
    rules = IgnoreRules(tmp_path)
    (tmp_path / ".gitignore").write_text("\n".join(lines) + "\n")
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    probes = [
        "a.o", "x/keep.o", "keep.o", "out/", "out/x.c", "x/out/", "docs/a/b/tmp",
        "docs/tmp", "main.c~", "main.c", "src/", "src/a.o", "README", "deep/er/thing.o",
    ]  # fmt: skip
    for probe in probes:
        expected = spec.check_file(probe).include
        assert rules.own_decision(probe.rstrip("/"), probe.endswith("/")) == (
            None if expected is None else bool(expected)
        ), probe
