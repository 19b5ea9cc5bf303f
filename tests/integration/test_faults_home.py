"""Faults of the home and the projects, on real runtimes and real indexes: a read-only
LEINDEX_HOME, a config file replaced by a directory, a project directory deleted or renamed
while indexed and while searched, and huge, binary and unreadable files."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from engine.api import search_ops
from engine.config import get_config
from tests.integration.corpus import UNIQUE_WORD, write_corpus

WAIT_SECONDS = 30.0
HUGE_FILE_BYTES = 50 * 1024 * 1024

needs_non_root = pytest.mark.skipif(
    os.geteuid() == 0, reason="root ignores file permissions, so this fault cannot happen"
)


def _ready(runtime) -> list:
    projects = runtime.engine.registry.list()
    for project in projects:
        assert project.ready.wait(WAIT_SECONDS), project.progress
    return projects


@needs_non_root
def test_read_only_home_serves_searches_and_says_state_cannot_be_saved(
    start_runtime, tmp_path: Path, tmp_leindex_home: Path
) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    tmp_leindex_home.mkdir()
    os.chmod(tmp_leindex_home, 0o500)
    try:
        runtime = start_runtime(paths=[corpus])
        _ready(runtime)

        assert runtime.engine.search(UNIQUE_WORD).hits
        assert any("read-only" in w and "cannot be saved" in w for w in runtime.warnings)
        report = runtime.shutdown()
        assert report.errors == ()
        assert sorted(p.name for p in tmp_leindex_home.iterdir()) == []
    finally:
        os.chmod(tmp_leindex_home, 0o700)


def test_config_file_replaced_by_a_directory_keeps_the_last_good_config(
    start_runtime, tmp_path: Path, tmp_leindex_home: Path
) -> None:
    tmp_leindex_home.mkdir()
    config = tmp_leindex_home / "config.yaml"
    config.write_text("memory:\n  project_defaults:\n    max_loaded_files: 7\n")
    runtime = start_runtime(paths=[write_corpus(tmp_path / "corpus")], watch_config=False)
    _ready(runtime)
    config.unlink()
    config.mkdir()

    result = runtime.reload()

    assert not result.success
    assert str(config) in str(result.error) and "directory" in str(result.error)
    assert get_config().memory.project_defaults.max_loaded_files == 7
    assert runtime.engine.search(UNIQUE_WORD).hits


def test_config_directory_at_start_is_reported_and_defaults_serve(
    start_runtime, tmp_path: Path, tmp_leindex_home: Path
) -> None:
    (tmp_leindex_home / "config.yaml").mkdir(parents=True)

    runtime = start_runtime(paths=[write_corpus(tmp_path / "corpus")], watch_config=False)
    _ready(runtime)

    assert any(str(tmp_leindex_home / "config.yaml") in w for w in runtime.warnings)
    assert runtime.engine.search(UNIQUE_WORD).hits


def test_project_deleted_while_indexing_leaves_the_others_serving(
    start_runtime, tmp_path: Path
) -> None:
    kept = write_corpus(tmp_path / "kept")
    doomed = write_corpus(tmp_path / "doomed", modules=300)
    runtime = start_runtime(paths=[kept, doomed])

    shutil.rmtree(doomed)  # while its first index runs
    _ready(runtime)
    response = runtime.engine.search(UNIQUE_WORD)

    assert {hit.project for hit in response.hits} == {"kept"}
    assert any("doomed" in note and "is gone" in note for note in response.notes)


def test_projects_renamed_and_deleted_while_searched_keep_answering_and_say_so(
    start_runtime, tmp_path: Path
) -> None:
    roots = [write_corpus(tmp_path / name) for name in ("alpha", "beta", "gamma")]
    runtime = start_runtime(paths=roots)
    _ready(runtime)
    stop, answers, errors = threading.Event(), [], []

    def search_continuously() -> None:
        while not stop.is_set():
            try:
                answers.append(search_ops.search(UNIQUE_WORD, limit=50))
            except Exception as error:  # any exception is the failure under test
                errors.append(error)

    searcher = threading.Thread(target=search_continuously)
    searcher.start()
    try:
        roots[0].rename(tmp_path / "alpha-renamed")
        time.sleep(0.2)
        shutil.rmtree(roots[1])
        time.sleep(0.5)
    finally:
        stop.set()
        searcher.join(WAIT_SECONDS)

    assert errors == []
    final = search_ops.search(UNIQUE_WORD, limit=50)
    assert "gamma" in {hit["project"] for hit in final["hits"]}
    notes = " ".join(final["notes"])
    assert "alpha: " in notes and "beta: " in notes and "is gone" in notes
    assert len(answers) > 1


def test_huge_binary_and_unreadable_files_are_skipped_with_a_reason(
    start_runtime, tmp_path: Path
) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    with open(corpus / "huge.log.py", "wb") as handle:
        handle.truncate(HUGE_FILE_BYTES)  # sparse: 50 MB without writing them
    (corpus / "blob.py").write_bytes(b"\x7fELF\x00\x00" + UNIQUE_WORD.encode() + b"\x00" * 64)
    runtime = start_runtime(paths=[corpus])

    (project,) = _ready(runtime)

    assert project.progress.phase == "ready"
    assert project.skipped.get("oversized") == 1
    assert project.skipped.get("binary") == 1
    paths = {hit.path for hit in runtime.engine.search(UNIQUE_WORD).hits}
    assert paths == {"pkg/module_07.py"}


@needs_non_root
def test_unreadable_file_is_skipped_with_a_reason(start_runtime, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    secret = corpus / "secret.py"
    secret.write_text(f"{UNIQUE_WORD} = 'unreadable'\n")
    secret.chmod(0o000)
    try:
        runtime = start_runtime(paths=[corpus])
        (project,) = _ready(runtime)

        assert project.skipped.get("unreadable") == 1
        paths = {hit.path for hit in runtime.engine.search(UNIQUE_WORD).hits}
        assert paths == {"pkg/module_07.py"}
    finally:
        secret.chmod(0o600)
