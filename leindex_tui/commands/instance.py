"""Reaching the running instance over its control socket, or a fresh engine in this process.

`diagnostics`, `status` and `reload` ask the instance running on LEINDEX_HOME first, so their
figures are that instance's. When none runs they say so on stderr and use an engine built here
(`fresh_engine`), which keeps its indexes in a temporary directory and never takes the pidfile
or writes `cache_state.json`.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from engine.control import ControlReply, NoInstanceError, request

FALLBACK_NOTE = "showing a fresh in-process engine"


def ask_running_instance(op: str, **arguments: object) -> ControlReply | None:
    """The running instance's reply, or None (said on stderr) when none runs here.

    Raises `engine.control.ControlError` when one runs but cannot be used (refused, silent).
    """
    from engine.config import leindex_home

    try:
        return request(leindex_home(), op, **arguments)
    except NoInstanceError as missing:
        sys.stderr.write(f"leindex: {missing}; {FALLBACK_NOTE}\n")
        return None


def describe_instance(reply: ControlReply) -> str:
    """'the running leindex (pid N, dashboard, home H)', for a note on stderr."""
    return f"the running leindex (pid {reply.pid}, {reply.face}, home {reply.home})"


@contextmanager
def fresh_engine(paths: Sequence[str] = ()) -> Iterator[None]:
    """Install an engine and memory manager for this process, index `paths`, then close it.

    Raises `engine.api.ApiError`, ValueError or OSError when a path cannot be indexed.
    """
    from engine import api
    from engine.index import Engine, set_engine
    from engine.memory import MemoryManager, set_memory_manager

    with tempfile.TemporaryDirectory(prefix="leindex-fresh-") as index_home:
        engine = Engine(home=Path(index_home), watch_files=False)
        set_engine(engine)
        set_memory_manager(MemoryManager(engine=engine))
        try:
            for path in paths:
                api.index_project(path, wait=True)
            yield
        finally:
            engine.close()
            # Forget the closed engine: a caller in the same process gets fresh defaults.
            set_memory_manager(None)
            set_engine(None)
