"""Measures this process's memory from the OS, and hands freed memory back to it.

The cheap path (`rss_bytes`) is one read of /proc/self/statm, which is what the monitoring
tick uses, plus one statm read per worker process the engine runs (indexing workers register
themselves with `track_worker_process`): their memory is the engine's too.
`sample()` reads /proc/self/status for the anonymous / file-backed split;
`mapped_bytes()` walks /proc/self/smaps and is only called on demand (it costs milliseconds).
Off Linux every figure comes from psutil instead.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from engine import procfs

MB = 1024 * 1024
# Stack and code come from a walk of smaps (milliseconds): refreshed at most this often.
_SMAPS_TTL_SECONDS = 2.0


@dataclass(frozen=True)
class ProbeSample:
    """One reading of the process's memory, all in bytes.

    `heap` is the anonymous resident memory (RssAnon): every malloc'd, pymalloc'd and
    numpy/hnswlib byte that is resident, which is what "heap" means for this process.
    `stack` and `code` are the resident bytes (smaps Rss) of the [stack] mapping and of the
    executable file mappings (interpreter and shared libraries' text).
    """

    rss: int
    anon: int
    file: int
    stack: int
    code: int
    heap: int
    workers: int = 0

    @property
    def own_rss(self) -> int:
        """This process's RSS, without its worker processes'."""
        return self.rss - self.workers


class MemoryProbe:
    """The real probe: /proc on Linux, psutil elsewhere."""

    def __init__(self) -> None:
        self._malloc_trim = procfs.load_malloc_trim()
        self._psutil_process = None
        self._lock = threading.Lock()
        self._stack_code: tuple[float, int, int] = (float("-inf"), 0, 0)

    def rss_bytes(self) -> int:
        """Resident set size now (one statm read on Linux)."""
        rss = procfs.statm_rss_bytes()
        if rss is None:
            rss = self._psutil().memory_info().rss
        return rss + worker_processes_rss_bytes()

    def sample(self) -> ProbeSample:
        """RSS with its anonymous / file-backed split, stack and code sizes."""
        workers = worker_processes_rss_bytes()
        fields = procfs.status_fields()
        if fields and "VmRSS" in fields:
            stack, code = self._stack_and_code()
            rss = fields["VmRSS"]
            anon = fields.get("RssAnon", rss)
            file_backed = fields.get("RssFile", 0) + fields.get("RssShmem", 0)
            return ProbeSample(
                rss=rss + workers,
                anon=anon,
                file=file_backed,
                stack=stack,
                code=code,
                heap=anon,
                workers=workers,
            )
        info = self._psutil().memory_info()
        shared = getattr(info, "shared", 0)
        text = getattr(info, "text", 0)
        anon = max(info.rss - shared, 0)
        return ProbeSample(
            rss=info.rss + workers,
            anon=anon,
            file=shared,
            stack=0,
            code=text,
            heap=anon,
            workers=workers,
        )

    def _stack_and_code(self) -> tuple[int, int]:
        """smaps Rss of stack and code, re-read at most every `_SMAPS_TTL_SECONDS`."""
        measured_at, stack, code = self._stack_code
        now = time.monotonic()
        if now - measured_at >= _SMAPS_TTL_SECONDS:
            stack, code = procfs.stack_and_code_rss() or (0, 0)
            self._stack_code = (now, stack, code)
        return stack, code

    def mapped_bytes(self, prefix: str | os.PathLike[str]) -> int:
        """Resident bytes of files mapped from under `prefix` (e.g. tantivy's index dir)."""
        mapped = procfs.mapped_rss_by_path(prefix)
        if mapped is not None:
            return mapped
        try:
            maps = self._psutil().memory_maps(grouped=True)
        except Exception:  # psutil raises AccessDenied / NotImplementedError per platform
            return 0
        prefix_text = str(prefix)
        return sum(m.rss for m in maps if str(m.path).startswith(prefix_text))

    def return_memory_to_os(self) -> bool:
        """Ask the C allocator to give free pages back (glibc malloc_trim); False if unavailable."""
        if self._malloc_trim is None:
            return False
        with self._lock:  # malloc_trim is thread-safe, but concurrent trims only waste CPU
            return bool(self._malloc_trim(0))

    def _psutil(self):
        if self._psutil_process is None:
            import psutil

            self._psutil_process = psutil.Process()
        return self._psutil_process


_worker_pids: set[int] = set()
_worker_lock = threading.Lock()


def track_worker_process(pid: int) -> None:
    """Count process `pid` (a worker this process started) in every RSS reading."""
    with _worker_lock:
        _worker_pids.add(int(pid))


def untrack_worker_process(pid: int) -> None:
    """Stop counting `pid` (the worker has exited or is about to)."""
    with _worker_lock:
        _worker_pids.discard(int(pid))


def tracked_worker_pids() -> frozenset[int]:
    """The pids counted by `worker_processes_rss_bytes`."""
    with _worker_lock:
        return frozenset(_worker_pids)


def worker_processes_rss_bytes() -> int:
    """The summed RSS of the tracked worker processes (0 for one that has gone)."""
    with _worker_lock:
        pids = tuple(_worker_pids)
    return sum(procfs.statm_rss_bytes(pid) or 0 for pid in pids)


_default_probe: MemoryProbe | None = None
_default_lock = threading.Lock()


def get_default_probe() -> MemoryProbe:
    """The process-wide real probe."""
    global _default_probe
    with _default_lock:
        if _default_probe is None:
            _default_probe = MemoryProbe()
        return _default_probe
