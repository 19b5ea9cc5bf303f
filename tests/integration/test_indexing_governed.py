"""The indexer under the memory budget: batches reserved first, paused when refused, and
never a reason for the memory manager to wait."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from engine.index import Engine, indexer
from engine.index.chunker import chunk_lines
from engine.index.embed import HashingEmbedder
from engine.index.manifest import MANIFEST_FILE, FileState, Manifest
from engine.memory import EvictionManager, MemoryManager, ProjectPriority, set_memory_manager
from engine.memory.dashboard import project_summary
from engine.memory.reservations import (
    Grant,
    Purpose,
    ReservationRefused,
    ReservationRequest,
    UnlimitedReserver,
    get_default_reserver,
    set_default_reserver,
)

FILES = 24
# Small batches, so a small corpus is indexed in several of them.
BATCH_BYTES = 16 * 1024


def _corpus(root: Path, files: int = FILES) -> Path:
    root.mkdir(parents=True)
    for n in range(files):
        body = "\n".join(f"def routine_{n}_{i}(value):\n    return value * {i}" for i in range(60))
        (root / f"module_{n:02d}.py").write_text(f'"""Module {n}: token_{n}."""\n{body}\n')
    return root


class RecordingReserver(UnlimitedReserver):
    """Grants everything (or refuses the first `refuse_first` requests) and records each
    request with the number of documents full-text search could see at that moment."""

    def __init__(self, refuse_first: int = 0, refuse_above: int | None = None) -> None:
        super().__init__()
        self.refuse_first = refuse_first
        self.refuse_above = refuse_above
        self.requests: list[tuple[ReservationRequest, int]] = []
        self.granted_requests: list[ReservationRequest] = []
        self.engine: Engine | None = None

    def reserve(self, nbytes, purpose, priority, project=None) -> Grant:
        request = ReservationRequest(int(nbytes), Purpose(purpose), priority, project)
        self.requests.append((request, self._visible_docs(project)))
        if self.refuse_first > 0:
            self.refuse_first -= 1
            raise ReservationRefused(request, 0, "budget full (test)")
        if self.refuse_above is not None and request.nbytes > self.refuse_above:
            raise ReservationRefused(request, self.refuse_above, "too big (test)")
        self.granted_requests.append(request)
        return super().reserve(nbytes, purpose, priority, project)

    def _visible_docs(self, name: str | None) -> int:
        if self.engine is None or name is None:
            return -1
        fulltext = self.engine.registry.get(name).fulltext
        return fulltext.num_docs if fulltext is not None else 0

    def batch_requests(self) -> list[tuple[ReservationRequest, int]]:
        return [(r, docs) for r, docs in self.requests if r.purpose == Purpose.INDEX_BATCH]


@pytest.fixture
def recording_reserver():
    def install(reserver: RecordingReserver) -> RecordingReserver:
        set_default_reserver(reserver)
        return reserver

    previous = get_default_reserver()
    yield install
    set_default_reserver(previous)


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(indexer, "batch_bytes_for", lambda heap_bytes: BATCH_BYTES)


def test_each_batch_is_reserved_before_it_is_written_and_released_after(
    tmp_path, tmp_leindex_home, recording_reserver, small_batches
):
    reserver = recording_reserver(RecordingReserver())
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    reserver.engine = engine
    try:
        project = engine.add_project(_corpus(tmp_path / "code"))
        batches = reserver.batch_requests()
        source_bytes = sum(p.stat().st_size for p in (tmp_path / "code").iterdir())
        full_text_batches = -(-source_bytes // BATCH_BYTES)
        # Full-text batches, then semantic ones over the same files.
        assert len(batches) >= 2 * full_text_batches
        assert all(r.project == project.name and r.nbytes > 0 for r, _ in batches)
        visible = [docs for _, docs in batches]
        # Documents (files, definition segments) became searchable batch by batch.
        assert visible[0] == 0 and max(visible) == project.fulltext.num_docs
        assert visible[:full_text_batches] == sorted(visible[:full_text_batches])
        assert reserver.reserved_bytes() == 0  # every grant was given back
        assert [h.path for h in engine.search("token_7").hits] == ["module_07.py"]
        assert engine.search("routine_3_5", mode="semantic").hits
    finally:
        engine.close()


def test_full_text_is_searchable_before_the_semantic_stage_starts(
    tmp_path, tmp_leindex_home, recording_reserver, small_batches
):
    reserver = recording_reserver(RecordingReserver())
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    reserver.engine = engine
    progress = []
    try:
        project = engine.add_project(_corpus(tmp_path / "code"), on_progress=progress.append)
        stages = [p.stage for p in progress if p.phase == "indexing" and p.stage]
        first_semantic = stages.index("semantic")
        assert "full-text" not in stages[first_semantic:]
        every_doc = project.fulltext.num_docs
        semantic_batches = [
            docs for r, docs in reserver.batch_requests() if r.nbytes and docs == every_doc
        ]
        assert semantic_batches  # every file was visible to full-text when embedding began
    finally:
        engine.close()


def test_a_batch_that_does_not_fit_is_split_until_it_does(
    tmp_path, tmp_leindex_home, recording_reserver, small_batches
):
    # Enough for a file or two at a time, not for a whole 16 KB semantic batch.
    limit = 400 * 1024
    reserver = recording_reserver(RecordingReserver(refuse_above=limit))
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    progress = []
    try:
        engine.add_project(_corpus(tmp_path / "code"), on_progress=progress.append)
        assert not [p for p in progress if p.paused]  # splitting was enough: no pause
        refused = [r for r, _ in reserver.requests if r.nbytes > limit]
        granted = [r.nbytes for r in reserver.granted_requests]
        assert refused and granted and max(granted) <= limit
        assert [h.path for h in engine.search("token_19").hits] == ["module_19.py"]
        assert engine.search("routine_19_4", mode="semantic").hits
    finally:
        engine.close()


def test_a_refused_single_file_pauses_indexing_visibly_until_room_is_made(
    tmp_path, tmp_leindex_home, recording_reserver, small_batches
):
    # Refused often enough that the batch shrinks to one file, which then waits.
    reserver = recording_reserver(RecordingReserver(refuse_first=8))
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    reserver.engine = engine
    progress = []
    try:
        engine.add_project(_corpus(tmp_path / "code"), on_progress=progress.append)
        paused = [p for p in progress if p.paused]
        assert paused and all(p.paused == "budget full (test)" for p in paused)
        assert paused[0].files_done == 0  # nothing was written before the grant
        assert progress[-1].phase == "ready" and not progress[-1].paused
        assert [h.path for h in engine.search("token_11").hits] == ["module_11.py"]
    finally:
        engine.close()


def test_a_run_stopped_in_full_text_keeps_its_committed_batches_searchable(
    tmp_path, tmp_leindex_home, small_batches
):
    corpus = _corpus(tmp_path / "code")
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    try:
        project = engine._register(corpus, None, ())
        checks = []
        indexer.open_project(
            project, 0, None, should_stop=lambda: len(checks.append(1) or checks) > 2
        )
        committed = len(project.manifest.files)
        assert 0 < committed < FILES
        assert [h.path for h in engine.search("token_0").hits] == ["module_00.py"]
    finally:
        engine.close()
    again = Engine(home=tmp_leindex_home, watch_files=False)
    try:
        again.add_project(corpus)
        assert [h.path for h in again.search("token_23").hits] == ["module_23.py"]
        assert again.search("routine_23_4", mode="semantic").hits
    finally:
        again.close()


def test_a_run_stopped_in_the_semantic_stage_is_resumed_not_redone(
    tmp_path, tmp_leindex_home, small_batches
):
    corpus = _corpus(tmp_path / "code")
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    try:
        project = engine._register(corpus, None, ())

        def in_semantic_stage_with_a_batch_done() -> bool:
            progress = project.progress
            return progress.stage == "semantic" and progress.files_done > 0

        indexer.open_project(project, 0, None, should_stop=in_semantic_stage_with_a_batch_done)
        embedded = FILES - len(project.pending_vector_paths)
        assert 0 < embedded < FILES
    finally:
        engine.close()
    again = Engine(home=tmp_leindex_home, watch_files=False)
    progress = []
    try:
        reopened = again.add_project(corpus, on_progress=progress.append)
        reindexed = max(p.files_total for p in progress if p.phase == "indexing")
        assert reindexed == FILES - embedded
        assert len(reopened.manifest.files) == FILES
        assert again.search("routine_23_4", mode="semantic").hits
    finally:
        again.close()


def test_a_file_deleted_while_its_vectors_are_pending_is_forgotten_after_a_restart(
    tmp_path, tmp_leindex_home
):
    corpus = _corpus(tmp_path / "code", files=4)
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    project = engine.add_project(corpus)
    project.unload_vectors(wait=True)
    (corpus / "module_02.py").unlink()
    engine.update_files(project.name, ["module_02.py"])
    assert "module_02.py" in project.pending_vector_paths
    engine.close()
    saved = Manifest.load(project.index_dir / MANIFEST_FILE)
    assert saved.files["module_02.py"] == FileState(0, -1)  # recorded so a restart removes it

    again = Engine(home=tmp_leindex_home, watch_files=False)
    try:
        again.add_project(corpus)
        hits = again.search("routine_2_7", mode="semantic", limit=50).hits
        assert hits and "module_02.py" not in {h.path for h in hits}
    finally:
        again.close()


class GatedEmbedder(HashingEmbedder):
    """The hashing embedder, stopping inside its first call until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def embed(self, texts: list[str]) -> np.ndarray:
        self.entered.set()
        self.gate.wait(timeout=60)
        return super().embed(texts)


def test_eviction_skips_a_project_in_an_indexing_batch_instead_of_waiting(
    tmp_path, tmp_leindex_home
):
    embedder = GatedEmbedder()
    engine = Engine(home=tmp_leindex_home, embedder=embedder, watch_files=False)
    manager = MemoryManager(engine=engine)
    set_memory_manager(manager)
    EvictionManager().clear_history()
    corpus = _corpus(tmp_path / "code", files=6)
    indexing = threading.Thread(
        target=engine.add_project, args=(corpus, ProjectPriority.LOW), daemon=True
    )
    try:
        indexing.start()
        assert embedder.entered.wait(timeout=60)  # inside a semantic batch, lock held
        evicting = threading.Thread(
            target=manager.evict, args=(50.0, ProjectPriority.HIGH), daemon=True
        )
        evicting.start()
        evicting.join(timeout=30)
        assert not evicting.is_alive(), "eviction waited behind the indexing batch"
        assert not embedder.gate.is_set()  # it returned while the batch still ran
        embedder.gate.set()
        indexing.join(timeout=60)
        assert not indexing.is_alive()
        assert [h.path for h in engine.search("token_4").hits] == ["module_04.py"]
    finally:
        embedder.gate.set()
        set_memory_manager(None)
        EvictionManager().clear_history()
        engine.close()


class GatedReserver(UnlimitedReserver):
    """Grants everything, but its first reservation waits until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def reserve(self, nbytes, purpose, priority, project=None) -> Grant:
        if purpose == Purpose.INDEX_BATCH and not self.entered.is_set():
            self.entered.set()
            self.gate.wait(timeout=60)
        return super().reserve(nbytes, purpose, priority, project)


def test_a_reopened_project_answers_from_its_saved_index_while_it_is_synced(
    tmp_path, tmp_leindex_home, recording_reserver
):
    from engine import api
    from engine.index import set_engine

    corpus = _corpus(tmp_path / "code", files=6)
    first = Engine(home=tmp_leindex_home, watch_files=False)
    first.add_project(corpus)
    first.close()
    (corpus / "module_05.py").write_text("def changed_since():\n    return 5\n")
    reserver = recording_reserver(GatedReserver())  # the sync waits at its first batch
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    set_engine(engine)
    reopening = threading.Thread(target=engine.add_project, args=(corpus,), daemon=True)
    try:
        reopening.start()
        assert reserver.entered.wait(timeout=60)
        project = engine.registry.get("code")
        assert project.servable.is_set() and not project.ready.is_set()

        answer = api.search("token_3", wait_timeout_seconds=0)

        assert [h["path"] for h in answer["hits"]] == ["module_03.py"]
        assert answer["still_indexing"] == []
        assert (
            "code: answered from the saved index while it is brought up to date"
            in (answer["notes"])
        )
    finally:
        reserver.gate.set()
        reopening.join(timeout=60)
        set_engine(None)
        engine.close()


def test_vectors_that_do_not_fit_end_the_semantic_stage_with_a_note(
    tmp_path, tmp_leindex_home, recording_reserver, small_batches, monkeypatch
):
    # Full-text batches fit; no semantic batch ever does, however small.
    monkeypatch.setattr(indexer, "_MAX_PAUSE_SECONDS", 0.5)
    monkeypatch.setattr(indexer, "_semantic_cost", lambda run, entries: 10**12)
    recording_reserver(RecordingReserver(refuse_above=10**11))
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    try:
        project = engine.add_project(_corpus(tmp_path / "code"))

        assert [h.path for h in engine.search("token_7").hits] == ["module_07.py"]
        assert "semantic index of code is incomplete" in project.semantic_note
        assert len(project.pending_vector_paths) == FILES  # kept for the next open
        answer = engine.search("routine 7", mode="semantic")
        assert project.semantic_note in answer.notes
        # The dashboard and the projects diagnostics say it too.
        summary = project_summary(project)
        assert (summary.vectors_pending, summary.semantic_note) == (FILES, project.semantic_note)
    finally:
        engine.close()


def test_a_file_bigger_than_an_embedder_slice_is_embedded_whole(tmp_path, tmp_leindex_home):
    corpus = tmp_path / "code"
    corpus.mkdir()
    lines = [f"def big_routine_{i}(value):\n    return value + {i}\n" for i in range(12_000)]
    (corpus / "big.py").write_text("".join(lines))  # about 500 KB: two slices and more
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    try:
        project = engine.add_project(corpus)
        chunks = chunk_lines((corpus / "big.py").read_text().split("\n"))
        assert len(project.vectors) == len(chunks) > 100  # every chunk has its vector
        hits = engine.search("big_routine_11999", mode="semantic", limit=3).hits
        assert hits and hits[0].path == "big.py"
    finally:
        engine.close()
