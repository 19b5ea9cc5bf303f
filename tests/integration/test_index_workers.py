"""Indexing in worker processes: the same index as in-process, memory counted, and a worker
that dies or cannot start never stops indexing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from multiprocessing import resource_tracker
from pathlib import Path

import pytest

from engine.index import Engine, indexer, worker_feed
from engine.index.analysis_pool import WORKER_BYTES_ESTIMATE, AnalysisPool
from engine.index.embed import HashingEmbedder
from engine.index.results import STAGE_FULLTEXT, STAGE_SEMANTIC, IndexProgress
from engine.memory.probe import MemoryProbe, tracked_worker_pids, worker_processes_rss_bytes
from engine.memory.reservations import (
    Purpose,
    ReservationRefused,
    ReservationRequest,
    UnlimitedReserver,
)
from engine.priority import ProjectPriority

C_SOURCE = """\
#define RING_SIZE_{n} 64
struct ring_{n} {{
    int head;
    int tail;
}};

static int ring_push_{n}(struct ring_{n} *ring, int value)
{{
    ring->head = (ring->head + value) % RING_SIZE_{n};
    return ring->head;
}}
"""
PY_SOURCE = """\
class Ledger{n}:
    def settle_account_q{n}(self, amount):
        return amount * {n}


def parse_ledger_line_{n}(line):
    return line.split(",")
"""


def _corpus(root: Path, files: int = 60) -> Path:
    root.mkdir(parents=True)
    for n in range(files):
        (root / f"ring_{n:02d}.c").write_text(C_SOURCE.format(n=n) * 3)
        (root / f"ledger_{n:02d}.py").write_text(PY_SOURCE.format(n=n) * 3)
    (root / "blob.bin").write_bytes(b"\0binary\0" * 64)
    return root


@pytest.fixture
def pooled(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every indexing run uses two worker processes, however small; the pools' sizes."""
    opened: list[int] = []
    real_open = worker_feed.open_pool

    def open_pool(*args):
        pool = real_open(*args)
        if pool is not None:
            opened.append(pool.workers)
        return pool

    monkeypatch.setattr(worker_feed, "MIN_POOL_BYTES", 0)
    monkeypatch.setattr(worker_feed, "available_cores", lambda: 2)
    monkeypatch.setattr(worker_feed, "open_pool", open_pool)
    return opened


def _index(tmp_path: Path, name: str, corpus: Path, **kwargs) -> tuple[Engine, object]:
    engine = Engine(home=tmp_path / name, embedder=HashingEmbedder(64), watch_files=False)
    return engine, engine.add_project(corpus, **kwargs)


def _index_with_reserver(tmp_path: Path, reserver: UnlimitedReserver) -> tuple[Engine, object]:
    """Index the corpus with `reserver` as the project's budget."""
    engine = Engine(home=tmp_path / "home", embedder=HashingEmbedder(64), watch_files=False)
    project = engine.registry.add(_corpus(tmp_path / "corpus"))
    project.reserver = reserver
    engine._index(project, None)
    return engine, project


def _snapshot(engine: Engine, project) -> dict:
    return {
        "ring": [(h.path, h.line) for h in engine.search("ring_push_7", limit=50).hits],
        # Top hit only: the templated files tie, and ties follow tantivy's segment order.
        "question": [
            (h.path, h.line)
            for h in engine.search("settle_account_q7 amount", mode="hybrid", limit=5).hits
        ][:1],
        "semantic": [
            (h.path, h.line)
            for h in engine.search("parse ledger line", mode="semantic", limit=20).hits
        ],
        "symbols": sorted(
            (s.name, s.kind, s.path, s.line) for s in project.fulltext.symbols.find("ring_*")
        )
        + sorted(
            (s.name, s.kind, s.path, s.line)
            for s in project.fulltext.symbols.find("Ledger", prefix=True)
        ),
        "chunks": len(project.vectors),
        "skipped": project.skipped,
        "docs": project.fulltext.num_docs,
    }


def test_workers_build_the_same_index_as_in_process(
    tmp_path: Path, pooled: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Many small batches, so the workers are handed the next batch while one is written.
    monkeypatch.setattr(indexer, "batch_bytes_for", lambda heap_bytes: 8 * 1024)
    taken_ahead: list[int] = []
    real_take_ahead = worker_feed.WorkerFeed.take_ahead

    def take_ahead(feed, start):
        found = real_take_ahead(feed, start)
        if found is not None:
            taken_ahead.append(start)
        return found

    monkeypatch.setattr(worker_feed.WorkerFeed, "take_ahead", take_ahead)
    corpus = _corpus(tmp_path / "corpus")
    engine, project = _index(tmp_path, "pooled", corpus)
    with_workers = _snapshot(engine, project)
    engine.close()
    assert pooled == [2]
    assert len(taken_ahead) > 4  # batches of both stages were prefetched
    prefetched = len(taken_ahead)

    worker_feed.MIN_POOL_BYTES = 1 << 62  # restored by monkeypatch
    engine, project = _index(tmp_path, "in-process", corpus)
    in_process = _snapshot(engine, project)
    engine.close()

    assert pooled == [2]  # no pool the second time
    assert len(taken_ahead) == prefetched  # nor batches handed out ahead
    assert with_workers == in_process
    assert with_workers["ring"][0][0] == "ring_07.c"
    assert with_workers["question"] == [("ledger_07.py", 2)]
    assert with_workers["skipped"].get("binary") == 1
    assert with_workers["chunks"] > 0


def _tracker_pid() -> int | None:
    return getattr(resource_tracker._resource_tracker, "_pid", None)


def _worker_pids() -> set[int]:
    """The tracked pids of indexing workers (multiprocessing's resource tracker left out)."""
    return set(tracked_worker_pids()) - {_tracker_pid()}


class _RecordingReserver(UnlimitedReserver):
    def __init__(self) -> None:
        super().__init__()
        self.grants: list = []

    def reserve(self, nbytes, purpose, priority, project=None):
        grant = super().reserve(nbytes, purpose, priority, project)
        self.grants.append(grant)
        return grant


def test_worker_memory_is_counted_while_they_run_and_reserved_until_they_end() -> None:
    own = MemoryProbe()
    reserver = _RecordingReserver()
    with AnalysisPool(2, HashingEmbedder(64), reserver, ProjectPriority.MEDIUM, "p") as pool:
        assert pool.workers == 2 and len(_worker_pids()) >= 1
        assert _tracker_pid() in tracked_worker_pids()  # the tracker is counted too
        sample = own.sample()
        assert sample.workers > 10 << 20  # interpreters
        assert sample.rss - sample.own_rss == sample.workers
        # Reserved: what the workers may still grow into, beside what the probe counts.
        (grant,) = reserver.grants
        assert grant.purpose == Purpose.INDEX_WORKERS and not grant.released
        assert 0 < grant.nbytes < 2 * WORKER_BYTES_ESTIMATE
        list(pool.analyze(Path(__file__).parent, [(Path(__file__).name, 1)]))
        assert grant.nbytes + worker_processes_rss_bytes() >= 2 * WORKER_BYTES_ESTIMATE - (
            16 << 20  # the tracker is counted by the probe, not part of the estimate
        )
    assert grant.released and reserver.reserved_bytes() == 0
    assert _worker_pids() == set()


class _NoRoomForWorkers(UnlimitedReserver):
    """Grants everything but worker processes; records what was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[int] = []

    def reserve(self, nbytes, purpose, priority, project=None):
        if purpose == Purpose.INDEX_WORKERS:
            self.refused.append(nbytes)
            raise ReservationRefused(
                ReservationRequest(nbytes, purpose, priority, project), 0, "test: no room"
            )
        return super().reserve(nbytes, purpose, priority, project)


def test_no_room_for_workers_means_indexing_in_process(tmp_path: Path, pooled: list[int]) -> None:
    reserver = _NoRoomForWorkers()
    engine, project = _index_with_reserver(tmp_path, reserver)
    try:
        assert pooled == []
        # Two workers were asked for, then one; neither fitted.
        assert len(reserver.refused) == 2 and reserver.refused[0] == 2 * reserver.refused[1]
        assert [h.path for h in engine.search("ring_push_7").hits][:1] == ["ring_07.c"]
        assert len(project.vectors) > 0
    finally:
        engine.close()


@pytest.mark.parametrize("stage", [STAGE_FULLTEXT, STAGE_SEMANTIC])
def test_a_killed_worker_does_not_stop_indexing(
    tmp_path: Path, pooled: list[int], monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    monkeypatch.setattr(indexer, "_PROGRESS_EVERY", 1)
    monkeypatch.setattr(indexer, "_MIN_BATCH_BYTES", 8 * 1024)
    monkeypatch.setattr(indexer, "batch_bytes_for", lambda heap_bytes: 8 * 1024)
    killed: list[int] = []

    def kill_workers(progress: IndexProgress) -> None:
        if killed or progress.stage != stage or progress.files_done < 5:
            return
        pids = list(_worker_pids())
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        killed.extend(pids)

    corpus = _corpus(tmp_path / "corpus", files=120)
    engine, project = _index(tmp_path, "home", corpus, on_progress=kill_workers)
    try:
        assert killed, "the workers were never seen"
        assert project.progress.phase == "ready"
        assert not project.pending_vector_paths
        for n in (3, 60, 119):
            assert [h.path for h in engine.search(f"ring_push_{n}").hits][:1] == [f"ring_{n:02d}.c"]
        indexed = [
            rel for rel, state in project.manifest.files.items() if state.status == "indexed"
        ]
        assert len(indexed) == 240
        assert _worker_pids() == set()
    finally:
        engine.close()


class _NoRoomBesideWorkers(UnlimitedReserver):
    """Refuses an indexing batch while worker processes hold memory."""

    def __init__(self) -> None:
        super().__init__()
        self.refused_beside_workers = 0

    def reserve(self, nbytes, purpose, priority, project=None):
        if purpose == Purpose.INDEX_BATCH and _worker_pids():
            self.refused_beside_workers += 1
            raise ReservationRefused(
                ReservationRequest(nbytes, purpose, priority, project), 0, "test: workers"
            )
        return super().reserve(nbytes, purpose, priority, project)


def test_the_workers_give_way_to_a_batch_that_needs_their_memory(
    tmp_path: Path, pooled: list[int]
) -> None:
    reserver = _NoRoomBesideWorkers()
    engine, project = _index_with_reserver(tmp_path, reserver)
    try:
        assert pooled == [2]  # they started...
        assert reserver.refused_beside_workers == 1  # ...and stopped at the first refusal
        assert _worker_pids() == set()
        assert project.progress.phase == "ready" and not project.semantic_note
        assert [h.path for h in engine.search("ring_push_7").hits][:1] == ["ring_07.c"]
        assert len(project.vectors) > 0 and not project.pending_vector_paths
    finally:
        engine.close()


def test_workers_start_when_stderr_is_not_a_file_as_under_the_tui(tmp_path: Path) -> None:
    # Textual replaces sys.stderr with a capture whose fileno() is -1; multiprocessing's
    # resource tracker used to fail to start on it ('bad value(s) in fds_to_keep').
    code = """
import sys
class Capture:
    def write(self, text): return len(text)
    def flush(self): pass
    def fileno(self): return -1
sys.stderr = Capture()
from engine.index.analysis_pool import WORKER_BYTES_ESTIMATE, AnalysisPool
from engine.index.embed import HashingEmbedder
from engine.memory.reservations import UnlimitedReserver
from engine.priority import ProjectPriority
pool = AnalysisPool(2, HashingEmbedder(64), UnlimitedReserver(), ProjectPriority.LOW, "p")
print(pool.workers)
pool.close()
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    assert done.stderr == ""  # nothing from the workers reaches the terminal
