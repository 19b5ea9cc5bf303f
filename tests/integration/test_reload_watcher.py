"""ConfigWatcher: every way an editor or a user changes a config file is seen, nothing else is."""

from __future__ import annotations

import os
import queue
import shutil
from pathlib import Path

import pytest

from engine.config.watcher import ConfigWatcher, is_config_file

WAIT_SECONDS = 5.0


class Recorder:
    def __init__(self) -> None:
        self.batches: queue.Queue[tuple[Path, ...]] = queue.Queue()

    def __call__(self, paths: tuple[Path, ...]) -> None:
        self.batches.put(paths)

    def next_batch(self) -> tuple[Path, ...]:
        return self.batches.get(timeout=WAIT_SECONDS)

    def quiet_for(self, seconds: float) -> bool:
        try:
            self.batches.get(timeout=seconds)
        except queue.Empty:
            return True
        return False


@pytest.fixture
def watched(tmp_leindex_home: Path):
    tmp_leindex_home.mkdir(parents=True)
    recorder = Recorder()
    watcher = ConfigWatcher(tmp_leindex_home, recorder)
    watcher.start()
    assert watcher.wait_ready(WAIT_SECONDS)
    yield tmp_leindex_home, recorder
    watcher.stop()
    assert not watcher.running


def test_created_file_is_seen(watched) -> None:
    home, recorder = watched
    (home / "config.yaml").write_text("memory:\n  max_loaded_files: 10\n")
    assert home / "config.yaml" in recorder.next_batch()


def test_changed_file_is_seen(watched) -> None:
    home, recorder = watched
    config = home / "config.yaml"
    config.write_text("memory: {}\n")
    recorder.next_batch()
    with config.open("a") as handle:
        handle.write("# edited\n")
    assert config in recorder.next_batch()


def test_deleted_file_is_seen(watched) -> None:
    home, recorder = watched
    config = home / "config.yaml"
    config.write_text("memory: {}\n")
    recorder.next_batch()
    config.unlink()
    assert config in recorder.next_batch()


def test_replace_by_rename_like_an_editor_is_seen(watched) -> None:
    home, recorder = watched
    config = home / "config.yaml"
    config.write_text("memory: {}\n")
    recorder.next_batch()
    temp = home / ".config.yaml.swp"
    temp.write_text("memory:\n  max_loaded_files: 5\n")
    os.replace(temp, config)
    # One batch for the whole save (debounced), naming only the real file.
    assert recorder.next_batch() == (config,)


def test_project_files_are_seen(watched) -> None:
    home, recorder = watched
    project_file = home / "projects" / "core-api.yaml"
    project_file.write_text("memory:\n  priority: HIGH\n")
    assert project_file in recorder.next_batch()


def test_unrelated_files_under_home_are_ignored(watched) -> None:
    home, recorder = watched
    (home / "cache_state.json").write_text("{}")
    (home / "leindex.pid").write_text("1\n")
    (home / "config.yaml~").write_text("backup")
    (home / "projects" / "notes.txt").write_text("x")
    (home / "indexes").mkdir()
    (home / "indexes" / "config.yaml").write_text("not the config")
    assert recorder.quiet_for(0.5)


def test_deleted_projects_directory_is_watched_again(watched) -> None:
    home, recorder = watched
    shutil.rmtree(home / "projects")
    recorder.next_batch()  # the watcher noticed and re-armed
    # The watcher re-creates the directory; a file written there afterwards is seen.
    for _ in range(50):
        if (home / "projects").is_dir():
            break
        recorder.quiet_for(0.05)
    project_file = home / "projects" / "late.yaml"
    seen = False
    for attempt in range(20):
        project_file.write_text(f"memory:\n  max_loaded_files: {attempt + 1}\n")
        try:
            if project_file in recorder.batches.get(timeout=0.5):
                seen = True
                break
        except queue.Empty:
            continue
    assert seen


def test_callback_error_does_not_stop_watching(tmp_leindex_home: Path) -> None:
    tmp_leindex_home.mkdir(parents=True)
    calls: queue.Queue[int] = queue.Queue()

    def failing(paths: tuple[Path, ...]) -> None:
        calls.put(1)
        raise RuntimeError("observer bug")

    watcher = ConfigWatcher(tmp_leindex_home, failing)
    watcher.start()
    assert watcher.wait_ready(WAIT_SECONDS)
    try:
        (tmp_leindex_home / "config.yaml").write_text("a: 1\n")
        calls.get(timeout=WAIT_SECONDS)
        (tmp_leindex_home / "config.yaml").write_text("a: 2\n")
        calls.get(timeout=WAIT_SECONDS)
    finally:
        watcher.stop()


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("config.yaml", True),
        ("projects/a.yaml", True),
        ("projects/a.yml", True),
        (".config.yaml.tmp", False),
        ("projects/.a.yaml.swp", False),
        ("config.yml", False),
        ("cache_state.json", False),
        ("indexes/config.yaml", False),
    ],
)
def test_is_config_file(tmp_path: Path, relative: str, expected: bool) -> None:
    assert is_config_file(tmp_path, tmp_path / relative) is expected
