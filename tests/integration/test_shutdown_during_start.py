"""A shutdown that races the start (a quit or a hang-up during start-up) still ends cleanly."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from engine.runtime import Runtime


def test_shutdown_during_start_waits_for_it_and_saves_state(
    tmp_leindex_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "a.py").write_text("x = 1\n")
    runtime = Runtime(paths=(project,), watch_config=False)
    bring_up_entered = threading.Event()
    original_bring_up = Runtime._bring_up

    def slow_bring_up(self: Runtime) -> None:
        bring_up_entered.set()
        time.sleep(0.3)  # the window in which a signal used to find no engine to save
        original_bring_up(self)

    monkeypatch.setattr(Runtime, "_bring_up", slow_bring_up)
    starter = threading.Thread(target=runtime.start)
    starter.start()
    assert bring_up_entered.wait(10)

    report = runtime.shutdown()
    starter.join(10)

    assert report is not None and report.state_path is not None
    assert (tmp_leindex_home / "cache_state.json").exists()
    assert not (tmp_leindex_home / "leindex.pid").exists()


def test_start_after_shutdown_brings_nothing_up(tmp_leindex_home: Path) -> None:
    runtime = Runtime(watch_config=False)
    runtime.shutdown()

    runtime.start()

    assert runtime.engine is None
    assert not (tmp_leindex_home / "leindex.pid").exists()
