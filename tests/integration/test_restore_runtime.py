"""Restore at start: same loaded files and cached queries back, stale ones skipped, bad files
set aside, and the engine answering searches while it runs."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from engine.lifecycle import restore as restore_module
from engine.lifecycle.cache_state import read_cache_state
from tests.integration.conftest import UNIQUE_FILE, UNIQUE_WORD, write_corpus

WAIT_SECONDS = 20.0
QUERIES = (("lookup", "fulltext", 20, False), ("parse json", "hybrid", 5, False))


def _warm(runtime) -> object:
    """Index, load six files and run two searches; returns the project."""
    project = runtime.engine.registry.list()[0]
    assert project.ready.wait(WAIT_SECONDS)
    for n in range(6):
        assert project.read_file(f"pkg/module_{n:02d}.py") is not None
    for query, mode, limit, literal in QUERIES:
        runtime.engine.search(query, mode=mode, project=project.name, limit=limit, literal=literal)
    return project


@pytest.fixture
def saved_session(start_runtime, small_corpus: Path, tmp_leindex_home: Path):
    """A first session that warmed its caches and shut down; returns (files, queries) saved."""
    runtime = start_runtime(paths=[small_corpus])
    project = _warm(runtime)
    files = list(project.loaded_files.keys())
    queries = list(project.query_cache.keys())
    runtime.shutdown()
    return files, queries


def test_restore_brings_back_the_same_files_and_queries(
    saved_session, start_runtime, small_corpus: Path
) -> None:
    files, queries = saved_session

    runtime = start_runtime(paths=[small_corpus])
    assert runtime.wait_restored(WAIT_SECONDS)

    project = runtime.engine.registry.list()[0]
    assert list(project.loaded_files.keys()) == files  # same entries, same LRU order
    assert list(project.query_cache.keys()) == queries  # same query, mode, limit, literal
    report = runtime.restorer.report()
    assert report.finished and not report.cancelled
    assert report.files_restored == len(files) and report.files_skipped == 0
    assert report.queries_restored == len(queries) and report.queries_failed == 0
    response = runtime.engine.search("lookup", project=project.name)
    assert response.from_cache


def test_changed_and_vanished_files_are_skipped_and_counted(
    saved_session, start_runtime, small_corpus: Path
) -> None:
    files, _ = saved_session
    changed, vanished = small_corpus / files[0], small_corpus / files[1]
    changed.write_text(changed.read_text() + "\n# edited after the save\n")
    vanished.unlink()

    runtime = start_runtime(paths=[small_corpus])
    assert runtime.wait_restored(WAIT_SECONDS)

    report = runtime.restorer.report()
    assert report.files_skipped_changed == 1
    assert report.files_skipped_missing == 1
    assert report.files_restored == len(files) - 2


def test_paths_leaving_the_project_are_refused(
    start_runtime, small_corpus: Path, tmp_leindex_home: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not part of the project")
    (small_corpus / "link_out").symlink_to(secret)
    _write_state(
        tmp_leindex_home,
        small_corpus,
        ["../secret.txt", str(secret), "link_out", "pkg/module_01.py"],
        [],
    )

    runtime = start_runtime(paths=[small_corpus])
    assert runtime.wait_restored(WAIT_SECONDS)

    report = runtime.restorer.report()
    assert report.files_rejected == 3
    assert report.files_restored == 1
    project = runtime.engine.registry.list()[0]
    assert list(project.loaded_files.keys()) == ["pkg/module_01.py"]


def test_guide_shaped_file_without_optional_keys_restores(
    start_runtime, small_corpus: Path, tmp_leindex_home: Path
) -> None:
    _write_state(tmp_leindex_home, small_corpus, ["pkg/module_03.py"], ["lookup", "parse"])

    runtime = start_runtime(paths=[small_corpus])
    assert runtime.wait_restored(WAIT_SECONDS)

    project = runtime.engine.registry.list()[0]
    assert "pkg/module_03.py" in project.loaded_files
    cached = project.query_cache.keys()  # a list copy, oldest first
    assert [key.query for key in cached] == ["lookup", "parse"]
    assert all(key.mode == "fulltext" and key.limit == 20 for key in cached)


@pytest.mark.parametrize(
    ("content", "reason"),
    [("{ not json", "corrupt"), ('{"version": "7.0", "timestamp": 1, "projects": {}}', "unknown")],
)
def test_bad_state_file_is_set_aside_and_start_continues(
    start_runtime, small_corpus: Path, tmp_leindex_home: Path, content: str, reason: str
) -> None:
    tmp_leindex_home.mkdir(parents=True)
    (tmp_leindex_home / "cache_state.json").write_text(content)

    runtime = start_runtime(paths=[small_corpus])

    assert runtime.restorer is None
    assert any("cache state" in warning and reason in warning for warning in runtime.warnings)
    aside = list(tmp_leindex_home.glob(f"cache_state.json.{reason}*"))
    assert len(aside) == 1 and aside[0].read_text() == content
    project = runtime.engine.registry.list()[0]
    assert project.ready.wait(WAIT_SECONDS)
    hits = runtime.engine.search(UNIQUE_WORD, project=project.name).hits
    assert {hit.path for hit in hits} == {UNIQUE_FILE}


@pytest.fixture
def blocked_restore(monkeypatch: pytest.MonkeyPatch):
    """Hold the restore at its first file until the test releases it."""
    entered, release = threading.Event(), threading.Event()
    real_warm = restore_module.warm_file

    def held_warm(project, relative, target):
        entered.set()
        release.wait(WAIT_SECONDS)
        real_warm(project, relative, target)

    monkeypatch.setattr(restore_module, "warm_file", held_warm)
    yield entered, release
    release.set()


def test_engine_answers_searches_while_restore_runs(
    saved_session, blocked_restore, start_runtime, small_corpus: Path
) -> None:
    entered, release = blocked_restore

    runtime = start_runtime(paths=[small_corpus])
    assert entered.wait(WAIT_SECONDS)

    project = runtime.engine.registry.list()[0]
    assert project.ready.wait(WAIT_SECONDS)
    hits = runtime.engine.search(UNIQUE_WORD, project=project.name).hits
    assert {hit.path for hit in hits} == {UNIQUE_FILE}
    assert not runtime.restorer.done.is_set()
    release.set()
    assert runtime.wait_restored(WAIT_SECONDS)


def test_shutdown_during_restore_keeps_what_was_not_restored(
    saved_session, blocked_restore, start_runtime, small_corpus: Path, tmp_leindex_home: Path
) -> None:
    files, queries = saved_session
    entered, release = blocked_restore
    runtime = start_runtime(paths=[small_corpus])
    assert entered.wait(WAIT_SECONDS)

    stopper = threading.Thread(target=runtime.shutdown)
    stopper.start()
    release.set()  # the held file finishes; the rest is cancelled
    stopper.join(WAIT_SECONDS)

    assert runtime.restorer.report().cancelled
    state = read_cache_state(tmp_leindex_home / "cache_state.json")
    (entry,) = state.projects.values()
    assert sorted(r.path for r in entry.loaded_files) == sorted(files)
    assert len(entry.cached_queries) == len(queries)


def test_state_of_projects_not_open_is_kept(
    saved_session, start_runtime, tmp_path: Path, tmp_leindex_home: Path
) -> None:
    files, _ = saved_session
    other = write_corpus(tmp_path / "other")

    runtime = start_runtime(paths=[other])
    assert runtime.wait_restored(WAIT_SECONDS)
    assert runtime.restorer.report().projects_not_open == 1
    runtime.shutdown()

    state = read_cache_state(tmp_leindex_home / "cache_state.json")
    assert len(state.projects) == 2
    first = state.projects[str(tmp_path / "corpus")]
    assert sorted(r.path for r in first.loaded_files) == sorted(files)


def test_memory_manager_restore_cache_state_restores_in_place(
    saved_session, start_runtime, small_corpus: Path, tmp_leindex_home: Path
) -> None:
    files, queries = saved_session
    runtime = start_runtime(paths=[small_corpus], watch_config=False)
    assert runtime.wait_restored(WAIT_SECONDS)
    project = runtime.engine.registry.list()[0]
    project.drop_caches()

    restorer = runtime.memory_manager.restore_cache_state()  # the guide's call

    assert restorer.report().files_restored == len(files)
    assert len(project.query_cache) == len(queries)


def _write_state(home: Path, project: Path, files: list[str], queries: list[str]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    document = {
        "version": "1.0",
        "timestamp": 1234567890.0,
        "projects": {
            str(project): {
                "loaded_files": files,
                "cached_queries": queries,
                "last_accessed": 1234567880.0,
            }
        },
    }
    (home / "cache_state.json").write_text(json.dumps(document))
    os.chmod(home / "cache_state.json", 0o600)


def test_entries_over_a_lowered_cap_are_not_warmed(
    saved_session, start_runtime, small_corpus: Path, tmp_leindex_home: Path
) -> None:
    files, queries = saved_session
    (tmp_leindex_home / "config.yaml").write_text(
        "memory:\n  project_defaults:\n    max_loaded_files: 3\n    max_cached_queries: 1\n"
    )

    runtime = start_runtime(paths=[small_corpus])
    assert runtime.wait_restored(WAIT_SECONDS)

    report = runtime.restorer.report()
    assert report.files_over_cap == len(files) - 3 and report.files_restored == 3
    assert report.queries_over_cap == len(queries) - 1 and report.queries_restored == 1
    project = runtime.engine.registry.list()[0]
    assert list(project.query_cache.keys()) == queries[-1:]  # the newest one is kept


def test_a_full_disk_at_shutdown_keeps_the_previous_state_file_and_says_so(
    saved_session, start_runtime, small_corpus: Path, tmp_leindex_home: Path, monkeypatch
) -> None:
    import errno

    from engine.lifecycle import cache_state as cache_state_module

    state_file = tmp_leindex_home / "cache_state.json"
    before = state_file.read_bytes()
    runtime = start_runtime(paths=[small_corpus])
    assert runtime.wait_restored(WAIT_SECONDS)

    def disk_full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(cache_state_module, "atomic_write_text", disk_full)
    report = runtime.shutdown()

    assert report is not None
    assert any("save cache state" in e and "No space left" in e for e in report.errors)
    assert state_file.read_bytes() == before  # the last good state, whole
    assert not (tmp_leindex_home / "leindex.pid").exists()  # shutdown went on to the end
