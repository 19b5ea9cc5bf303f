"""cache_state.json: the guide's shape, atomic writes that survive kill -9, bad files set aside."""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.lifecycle.cache_state import (
    CachedQueryRecord,
    CacheState,
    CacheStateError,
    LoadedFileRecord,
    ProjectCacheState,
    read_cache_state,
    state_to_json,
    write_cache_state,
)
from engine.memory.persistence import load_cache_state, remove_stale_temp_files

REPO_ROOT = Path(__file__).resolve().parents[2]


def _state(n_files: int = 2, n_queries: int = 2, stamp: float = 1234567890.0) -> CacheState:
    return CacheState(
        timestamp=stamp,
        projects={
            "/path/to/project": ProjectCacheState(
                loaded_files=tuple(
                    LoadedFileRecord(f"file{i}.py", 1_700_000_000_000_000_000 + i, 100 + i)
                    for i in range(1, n_files + 1)
                ),
                cached_queries=tuple(
                    CachedQueryRecord(f"query{i}", "hybrid" if i % 2 else "fulltext", 10, False)
                    for i in range(1, n_queries + 1)
                ),
                last_accessed=1234567880.0,
            )
        },
    )


def test_written_file_has_the_guides_keys_and_types(tmp_leindex_home: Path) -> None:
    path = tmp_leindex_home / "cache_state.json"

    write_cache_state(path, _state())

    document = json.loads(path.read_text())
    assert document["version"] == "1.0"
    assert document["timestamp"] == 1234567890.0
    entry = document["projects"]["/path/to/project"]
    assert entry["loaded_files"] == ["file1.py", "file2.py"]
    assert entry["cached_queries"] == ["query1", "query2"]
    assert entry["last_accessed"] == 1234567880.0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_round_trip_keeps_file_identity_and_query_options(tmp_leindex_home: Path) -> None:
    path = tmp_leindex_home / "cache_state.json"
    original = _state(5, 5)

    write_cache_state(path, original)

    assert read_cache_state(path) == original


def test_guide_example_without_optional_keys_is_read(tmp_leindex_home: Path) -> None:
    path = tmp_leindex_home / "cache_state.json"
    path.parent.mkdir(parents=True)
    path.write_text(
        '{"version": "1.0", "timestamp": 1234567890.0, "projects": {"/path/to/project": '
        '{"loaded_files": ["file1.py", "file2.py"], "cached_queries": ["query1", "query2"], '
        '"last_accessed": 1234567880.0}}}'
    )

    state = read_cache_state(path)

    entry = state.projects["/path/to/project"]
    assert [r.path for r in entry.loaded_files] == ["file1.py", "file2.py"]
    assert entry.loaded_files[0].mtime_ns is None
    assert entry.cached_queries[1] == CachedQueryRecord("query2", "fulltext", 20, False)


def test_missing_file_reads_as_no_state(tmp_leindex_home: Path) -> None:
    assert read_cache_state(tmp_leindex_home / "cache_state.json") is None


@pytest.mark.parametrize(
    ("content", "reason", "message"),
    [
        ('{"version": "1.0", "timestamp": 1, "proj', "corrupt", "not valid JSON"),
        ("\xff\xfe garbage", "corrupt", "not valid JSON"),
        ("[]", "corrupt", "top level is not an object"),
        ('{"version": "9.9", "timestamp": 1, "projects": {}}', "unknown-version", "9.9"),
        ('{"timestamp": 1, "projects": {}}', "unknown-version", "None"),
        ('{"version": "1.0", "timestamp": "soon", "projects": {}}', "corrupt", "timestamp"),
        ('{"version": "1.0", "timestamp": 1, "projects": []}', "corrupt", "projects"),
        (
            '{"version": "1.0", "timestamp": 1, "projects": {"/p": {"loaded_files": [1]}}}',
            "corrupt",
            "projects['/p'].loaded_files",
        ),
        (
            '{"version": "1.0", "timestamp": 1, "projects": {"/p": {"cached_queries": ["q"],'
            ' "cached_query_options": [{"mode": "rm -rf"}]}}}',
            "corrupt",
            "cached_query_options[0].mode",
        ),
        (
            '{"version": "1.0", "timestamp": 1, "projects": {"/p": {"loaded_files": ["a"],'
            ' "loaded_file_stats": [[1, 2], [3, 4]]}}}',
            "corrupt",
            "loaded_file_stats",
        ),
    ],
)
def test_unusable_file_raises_with_reason_and_key(
    tmp_leindex_home: Path, content: str, reason: str, message: str
) -> None:
    path = tmp_leindex_home / "cache_state.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content.encode("latin-1"))

    with pytest.raises(CacheStateError) as caught:
        read_cache_state(path)

    assert caught.value.reason == reason
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_corrupt_file_is_set_aside_with_a_warning(tmp_leindex_home: Path) -> None:
    path = tmp_leindex_home / "cache_state.json"
    path.parent.mkdir(parents=True)
    path.write_text("{ torn")

    outcome = load_cache_state(path)

    assert outcome.state is None
    assert not path.exists()
    assert outcome.set_aside_path is not None and outcome.set_aside_path.exists()
    assert outcome.set_aside_path.name.startswith("cache_state.json.corrupt.")
    assert outcome.set_aside_path.read_text() == "{ torn"  # kept for the user, not deleted
    assert "corrupt" in outcome.warning and "not valid JSON" in outcome.warning


def test_unknown_version_is_set_aside_under_its_own_reason(tmp_leindex_home: Path) -> None:
    path = tmp_leindex_home / "cache_state.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"version": "2.0", "timestamp": 1, "projects": {}}')

    outcome = load_cache_state(path)

    assert outcome.state is None
    assert outcome.set_aside_path.name.startswith("cache_state.json.unknown-version.")


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from engine.lifecycle.cache_state import (
        CacheState, CachedQueryRecord, LoadedFileRecord, ProjectCacheState, write_cache_state)

    def state(tag, n):
        files = tuple(LoadedFileRecord(f"{tag}/f{i}.py", i, i) for i in range(n))
        queries = tuple(CachedQueryRecord(f"{tag} q{i}") for i in range(n))
        entry = ProjectCacheState(files, queries, 1.0)
        return CacheState(timestamp=float(n), projects={"/p": entry})

    states = [state("old", 2000), state("new", 3000)]
    path = Path(sys.argv[1])
    print("writing", flush=True)
    i = 0
    while True:
        write_cache_state(path, states[i % 2])
        i += 1
    """
)


def test_kill_9_while_persisting_never_leaves_a_torn_file(tmp_leindex_home: Path) -> None:
    path = tmp_leindex_home / "cache_state.json"
    script = tmp_leindex_home.parent / "writer.py"
    script.write_text(_WRITER)
    write_cache_state(path, _state())  # the state before any child ran
    allowed_counts = {2, 2000, 3000}
    rng = random.Random(7)

    for _ in range(12):
        child = subprocess.Popen(
            [sys.executable, str(script), str(path), str(REPO_ROOT)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout.readline().strip() == "writing"
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(child.pid, 9)
        child.wait()
        child.stdout.close()

        state = read_cache_state(path)  # raises if torn

        assert state.loaded_file_count in allowed_counts
        assert state.cached_query_count == state.loaded_file_count

    # Some kills land mid-write (a temp file is left behind); those are cleaned up at start.
    remove_stale_temp_files(tmp_leindex_home)
    assert not list(tmp_leindex_home.glob(".cache_state.json.*.tmp"))


def test_json_output_is_plain_data(tmp_leindex_home: Path) -> None:
    # A query text that looks like code stays a string; nothing in the file is executed.
    state = CacheState(
        timestamp=1.0,
        projects={"/p": ProjectCacheState((), (CachedQueryRecord("__import__('os')"),), 0.0)},
    )
    assert json.loads(state_to_json(state))["projects"]["/p"]["cached_queries"] == [
        "__import__('os')"
    ]
