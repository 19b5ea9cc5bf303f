"""Shared fixtures: every test runs with its own LEINDEX_HOME, never the real one."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def tmp_leindex_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated LEINDEX_HOME with no LEINDEX_* variables leaking in from the environment."""
    import os

    for name in list(os.environ):
        if name.startswith("LEINDEX_"):
            monkeypatch.delenv(name)
    home = tmp_path / "leindex-home"
    monkeypatch.setenv("LEINDEX_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def fresh_config_manager(tmp_leindex_home: Path):
    """Each test gets a fresh process-default config manager reading its own LEINDEX_HOME."""
    from engine.config import set_reload_manager

    set_reload_manager(None)
    yield
    set_reload_manager(None)
