"""Shared fixtures for integration tests: a small generated source tree to index."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.corpus import UNIQUE_FILE, UNIQUE_WORD, write_corpus

# Re-exported: several test modules import the corpus helpers from here.
__all__ = ["UNIQUE_FILE", "UNIQUE_WORD", "write_corpus"]


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """A fresh small source tree (20 modules) in this test's temp dir."""
    return write_corpus(tmp_path / "corpus")


@pytest.fixture(scope="module")
def module_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small source tree shared by the tests of a module (for a module-scoped server)."""
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def start_runtime():
    """Start `engine.runtime.Runtime(**kwargs)`; every runtime started is shut down afterwards."""
    from engine.runtime import Runtime

    started: list[Runtime] = []

    def start(**kwargs) -> Runtime:
        runtime = Runtime(**kwargs)
        started.append(runtime)
        return runtime.start()

    yield start
    for runtime in reversed(started):
        runtime.shutdown()
