"""SIGTERM/SIGINT on a real child process: state persisted, pidfile removed, clean exit."""

from __future__ import annotations

import json
import signal
import time

import pytest

from engine.lifecycle.cache_state import read_cache_state
from tests.integration.test_reload_child_process import child_factory  # noqa: F401 (fixture)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_stop_signal_persists_state_and_removes_pidfile(
    child_factory,  # noqa: F811
    tmp_leindex_home,
    signum: int,
    code: int,
) -> None:
    child = child_factory()
    pidfile = tmp_leindex_home / "leindex.pid"
    assert pidfile.exists()

    child.signal(signum)

    assert child.wait() == code
    assert not pidfile.exists()
    state = read_cache_state(tmp_leindex_home / "cache_state.json")
    (entry,) = state.projects.values()
    saved_files = {r.path for r in entry.loaded_files}
    assert len(saved_files) == child.loaded_files
    assert {f"pkg/module_{n:02d}.py" for n in range(8)} <= saved_files
    assert [r.query for r in entry.cached_queries] == ["lookup"]
    document = json.loads((tmp_leindex_home / "cache_state.json").read_text())
    assert document["version"] == "1.0"


def test_repeated_stop_signals_still_finish_the_save(
    child_factory,  # noqa: F811
    tmp_leindex_home,
) -> None:
    child = child_factory()

    for _ in range(3):
        child.signal(signal.SIGTERM)
        time.sleep(0.01)

    assert child.wait() in (143, -signal.SIGTERM)
    state = read_cache_state(tmp_leindex_home / "cache_state.json")
    assert state is not None and state.loaded_file_count == child.loaded_files
    assert not (tmp_leindex_home / "leindex.pid").exists()


def test_second_instance_does_not_overwrite_the_owners_state(
    child_factory,  # noqa: F811
    tmp_leindex_home,
) -> None:
    owner = child_factory()
    second = child_factory()

    second.signal(signal.SIGTERM)
    second.wait()

    assert not (tmp_leindex_home / "cache_state.json").exists()
    owner.signal(signal.SIGTERM)
    assert owner.wait() == 143
    saved = read_cache_state(tmp_leindex_home / "cache_state.json")
    assert saved.loaded_file_count == owner.loaded_files
