"""Where the memory is: the flat `MemoryBreakdown` and the guide's breakdown tree.

Every figure is measured from the OS or summed exactly by the engine; the remainders are
computed, and marked "derived". Definitions:

- total: VmRSS (/proc/self/status, or statm) plus the RSS of the engine's worker processes
  (`workers`: indexing workers while they run, and multiprocessing's resource tracker once
  started); process RSS: this process's VmRSS alone.
- heap: RssAnon, the process's anonymous resident memory (malloc, pymalloc, numpy, hnswlib).
- loaded content, query cache: bytes the engine's caches accounted at insert.
- indexes: the index structures in the heap: the vector tables' array bytes (exact) and,
  when one is built, the hnswlib graph (estimated from its layout).
- other: the heap's remainder, heap - loaded content - query cache - indexes (as in the
  guide, the four add up to heap), never below 0.
- tantivy_mapped: resident pages of tantivy's memory-mapped index files (measured from
  /proc/self/smaps, by path): file-backed, so outside the heap; in the tree under Other RSS.
- stack, code: smaps Rss of the [stack] mapping and of executable file mappings.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from engine.memory.engine_view import EngineTotals
from engine.memory.probe import MB, MemoryProbe, ProbeSample
from engine.memory.status import BreakdownNode


@dataclass(frozen=True)
class MemoryBreakdown:
    """Detailed memory breakdown in MB (the guide's fields first)."""

    total_mb: float
    process_rss_mb: float
    heap_mb: float
    loaded_content_mb: float
    query_cache_mb: float
    indexes_mb: float
    other_mb: float
    stack_mb: float = 0.0
    code_mb: float = 0.0
    file_backed_mb: float = 0.0
    vector_index_mb: float = 0.0
    tantivy_mapped_mb: float = 0.0
    workers_mb: float = 0.0
    timestamp: float = 0.0

    def as_guide_dict(self) -> dict[str, float]:
        """The guide's `memory_breakdown` JSON object."""
        return {
            "total_mb": round(self.total_mb, 1),
            "process_rss_mb": round(self.process_rss_mb, 1),
            "heap_mb": round(self.heap_mb, 1),
            "loaded_content_mb": round(self.loaded_content_mb, 1),
            "query_cache_mb": round(self.query_cache_mb, 1),
            "indexes_mb": round(self.indexes_mb, 1),
            "other_mb": round(self.other_mb, 1),
        }


class MappedIndexCache:
    """Tantivy's mapped RSS, re-measured at most once per `max_age` seconds (smaps is slow)."""

    def __init__(self, probe: MemoryProbe, max_age: float = 1.0) -> None:
        self.probe = probe
        self.max_age = max_age
        self._lock = threading.Lock()
        self._value = 0
        self._measured_at = float("-inf")
        self._prefixes: tuple[str, ...] = ()

    def get(self, index_dirs: Iterable[Any], fresh: bool = False) -> int:
        prefixes = _common_prefixes(index_dirs)
        now = time.monotonic()
        with self._lock:
            if not fresh and prefixes == self._prefixes and now - self._measured_at < self.max_age:
                return self._value
        value = sum(self.probe.mapped_bytes(prefix) for prefix in prefixes)
        with self._lock:
            self._value, self._measured_at, self._prefixes = value, now, prefixes
        return value


def _common_prefixes(index_dirs: Iterable[Any]) -> tuple[str, ...]:
    """One smaps walk per distinct parent directory of the projects' index dirs."""
    parents = sorted({os.path.dirname(str(d).rstrip(os.sep)) for d in index_dirs if d})
    return tuple(parent + os.sep for parent in parents)


def build_breakdown(
    sample: ProbeSample, totals: EngineTotals, tantivy_bytes: int, clock: Callable[[], float]
) -> MemoryBreakdown:
    """The flat breakdown from one probe sample and the engine's accounted totals."""
    rss = sample.rss / MB
    workers = sample.workers / MB
    loaded = totals.loaded_content_bytes / MB
    queries = totals.query_cache_bytes / MB
    vectors = totals.vector_index_bytes / MB
    tantivy = tantivy_bytes / MB
    heap = sample.heap / MB
    return MemoryBreakdown(
        total_mb=rss,
        process_rss_mb=rss - workers,
        heap_mb=heap,
        loaded_content_mb=loaded,
        query_cache_mb=queries,
        indexes_mb=vectors,
        other_mb=max(0.0, heap - loaded - queries - vectors),
        stack_mb=sample.stack / MB,
        code_mb=sample.code / MB,
        file_backed_mb=sample.file / MB,
        vector_index_mb=vectors,
        tantivy_mapped_mb=tantivy,
        workers_mb=workers,
        timestamp=clock(),
    )


def build_tree(breakdown: MemoryBreakdown) -> BreakdownNode:
    """The guide's tree: heap (content, queries, indexes, other), stack, code, other RSS."""
    b = breakdown
    heap = max(0.0, b.heap_mb - b.stack_mb)
    heap_other = max(0.0, heap - b.loaded_content_mb - b.query_cache_mb - b.vector_index_mb)
    other_rss = max(0.0, b.total_mb - heap - b.stack_mb - b.code_mb)
    other_rss_rest = max(0.0, other_rss - b.tantivy_mapped_mb - b.workers_mb)

    def node(key, label, mb, source, children=()):
        return BreakdownNode(key, label, round(mb, 1), source, tuple(children))

    return node(
        "total",
        "Total Memory (RSS)",
        b.total_mb,
        "measured",
        [
            node(
                "heap",
                "Heap Memory",
                heap,
                "measured",
                [
                    node("heap.loaded_content", "Loaded Content", b.loaded_content_mb, "accounted"),
                    node("heap.query_cache", "Query Cache", b.query_cache_mb, "accounted"),
                    node("heap.indexes", "Index Structures", b.vector_index_mb, "accounted"),
                    node("heap.other", "Other", heap_other, "derived"),
                ],
            ),
            node("stack", "Stack Memory", b.stack_mb, "measured"),
            node("code", "Code Segment", b.code_mb, "measured"),
            node(
                "other_rss",
                "Other RSS",
                other_rss,
                "derived",
                [
                    node("other_rss.tantivy", "Tantivy Index", b.tantivy_mapped_mb, "measured"),
                    node("other_rss.other", "Other", other_rss_rest, "derived"),
                    # Only while indexing workers run, so the usual tree keeps its shape (and
                    # last, where the dashboard's tree appends a node that comes and goes).
                    *(
                        [node("other_rss.workers", "Worker Processes", b.workers_mb, "measured")]
                        if b.workers_mb > 0
                        else []
                    ),
                ],
            ),
        ],
    )
