"""What runs inside an indexing worker process (see `engine.index.analysis_pool`).

Kept apart from the pool so that a worker imports only the analysis code: not the memory
manager, the config or tantivy (a worker's RSS is the engine's too).
"""

from __future__ import annotations

import faulthandler
import os
import signal

from engine import procfs
from engine.index.analysis import EmbeddedFile, FileAnalysis, analyze_file, embed_files
from engine.index.embed import Embedder

_embedder: Embedder | None = None
_malloc_trim = None


def init_worker(embedder: Embedder | None, quiet: bool = False) -> None:
    """Runs once in each worker: keep its copy of the embedder; stdout goes to /dev/null, and
    stderr too when `quiet` (the parent draws a TUI on the terminal the worker inherited)."""
    global _embedder, _malloc_trim
    # Ctrl-C in a terminal reaches the whole process group: the parent decides, and ends us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Never write to the stdout inherited from the parent: under `--headless` it carries
    # the MCP protocol.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    if quiet:
        os.dup2(devnull, 2)
    os.close(devnull)
    # A crash in native code (a parser) leaves its traceback on stderr; the parent goes on
    # in-process and logs that a worker died.
    faulthandler.enable()
    _embedder = embedder
    _malloc_trim = procfs.load_malloc_trim()


def worker_pid() -> tuple[int, int]:
    """The worker's pid and RSS (asked once per worker at start, so its memory is counted)."""
    return os.getpid(), _own_rss()


def _own_rss() -> int:
    """RSS after a task, once the task's free heap pages went back to the OS (a parse tree of
    a big file would otherwise stay resident until the worker ends)."""
    if _malloc_trim is not None:
        _malloc_trim(0)
    return procfs.statm_rss_bytes() or 0


def analyze_group(root: str, rels: list[str]) -> tuple[int, int, list[FileAnalysis]]:
    """(pid, RSS, analyses) of a group of files under `root`."""
    results = [analyze_file(root, rel) for rel in rels]
    return os.getpid(), _own_rss(), results


def embed_group(root: str, rels: list[str]) -> tuple[int, int, list[EmbeddedFile]]:
    """(pid, RSS, chunks and vectors) of a group of files under `root`."""
    if _embedder is None:
        raise RuntimeError("this worker has no embedder")
    return os.getpid(), _own_rss(), embed_files(_embedder, root, rels)
