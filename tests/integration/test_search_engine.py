"""The real engine on a generated corpus: modes, errors, incremental updates, restarts."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.index import Engine, QuerySyntaxError, UnknownProjectError
from engine.index.fulltext import FULLTEXT_DIR
from engine.index.manifest import MANIFEST_FILE
from engine.index.vectors import VECTORS_META_FILE, VectorIndex
from engine.priority import ProjectPriority
from tests.conftest import write_small_corpus

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """The shared small corpus (tests/integration/conftest.py shadows `small_corpus`)."""
    return write_small_corpus(tmp_path / "corpus")


@pytest.fixture
def engine(tmp_leindex_home: Path):
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    yield engine
    engine.close()


def paths_of(response) -> list[str]:
    return [hit.path for hit in response.hits]


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def test_fulltext_finds_lines_and_skips_ignored_files(engine, corpus):
    engine.add_project(corpus)
    response = engine.search("MemoryTracker")
    assert [hit.format() for hit in response.hits] == ["src/engine_core.py:1: class MemoryTracker:"]
    assert response.mode == "fulltext" and not response.from_cache


def test_identifier_query_reports_each_matching_line(engine, corpus):
    engine.add_project(corpus)
    hits = engine.search("read_resident_set_size").hits
    # The definition first (the query names a symbol), then the other matching lines.
    assert [(hit.path, hit.line) for hit in hits] == [
        ("src/engine_core.py", 8),
        ("src/engine_core.py", 5),
    ]


def test_tantivy_syntax_and_literal_mode(engine, corpus):
    engine.add_project(corpus)
    hits = engine.search("socket AND sendall").hits
    assert [(hit.path, hit.line) for hit in hits] == [("src/http_client.py", n) for n in (1, 5, 10)]
    assert paths_of(engine.search("path:parser AND argparse")) == ["src/parser.py"] * 2
    literal = engine.search("'/proc/self/statm'", literal=True)
    assert [(hit.path, hit.line) for hit in literal.hits] == [("src/engine_core.py", 9)]
    assert engine.search("a:b:c(", literal=True).hits == ()


def test_invalid_query_raises_query_syntax_error(engine, corpus):
    engine.add_project(corpus)
    for bad in ("foo AND (", "unknownfield:value", "   "):
        with pytest.raises(QuerySyntaxError):
            engine.search(bad)
    with pytest.raises(UnknownProjectError):
        engine.search("x", project="nope")
    with pytest.raises(ValueError):
        engine.search("x", mode="fuzzy")


def test_semantic_and_hybrid_rank_the_relevant_file_first(engine, corpus):
    engine.add_project(corpus)
    semantic = engine.search("open an http connection", mode="semantic", limit=3)
    assert semantic.hits[0].path == "src/http_client.py"
    hybrid = engine.search("parse command line arguments", mode="hybrid", limit=3)
    assert hybrid.hits[0].path == "src/parser.py"
    assert "parse" in hybrid.hits[0].text


def test_non_utf8_and_binary_files(engine, corpus):
    project = engine.add_project(corpus)
    assert paths_of(engine.search("latin_marker")) == ["src/latin1.py"]
    assert project.skipped.get("binary") == 1
    assert "image.bin" not in project.manifest.files or (
        project.manifest.files["image.bin"].status == "skipped"
    )


def test_repeated_query_is_served_from_cache(engine, corpus):
    engine.add_project(corpus)
    first = engine.search("MemoryTracker", mode="hybrid")
    second = engine.search("  MemoryTracker ", mode="hybrid")
    assert second.from_cache and second.hits == first.hits
    assert not engine.search("MemoryTracker", mode="hybrid", limit=5).from_cache


def test_update_files_reindexes_only_the_changed_file(engine, corpus):
    project = engine.add_project(corpus)
    assert engine.search("MemoryTracker").hits  # fills the query cache
    (corpus / "src" / "new_module.py").write_text("def brand_new_function():\n    pass\n")
    (corpus / "src" / "parser.py").unlink()
    assert engine.update_files(project.name, ["src/new_module.py", "src/parser.py"]) == 2
    assert paths_of(engine.search("brand_new_function")) == ["src/new_module.py"]
    assert engine.search("argparse").hits == ()
    assert project.progress.files_total == 1  # only the added file was read and indexed


def test_watcher_makes_a_write_visible(tmp_leindex_home, corpus):
    engine = Engine(home=tmp_leindex_home, watch_files=True)
    try:
        engine.add_project(corpus)
        (corpus / "src" / "watched.py").write_text("watched_marker_value = 42\n")
        hits = wait_for(lambda: engine.search("watched_marker_value").hits)
        assert [hit.path for hit in hits] == ["src/watched.py"]
        (corpus / "src" / "watched.py").unlink()
        assert wait_for(lambda: not engine.search("watched_marker_value").hits)
        (corpus / "debug2.log").write_text("logged_marker\n")  # ignored by .gitignore
        time.sleep(0.5)
        assert engine.search("logged_marker").hits == ()
    finally:
        engine.close()


def test_restart_reuses_the_index_and_reindexes_only_changes(tmp_leindex_home, corpus):
    first = Engine(home=tmp_leindex_home, watch_files=False)
    first.add_project(corpus)
    first.close()
    time.sleep(0.01)
    (corpus / "src" / "parser.py").write_text("def changed_parser():\n    pass\n")
    second, project, reindexed = reopen(tmp_leindex_home, corpus)
    try:
        assert reindexed == 1
        assert paths_of(second.search("changed_parser")) == ["src/parser.py"]
        assert paths_of(second.search("open_http_connection")) == ["src/http_client.py"]
        assert second.search("changed parser", mode="semantic").hits[0].path == "src/parser.py"
    finally:
        second.close()


def test_a_restart_with_nothing_changed_reports_the_indexed_size_when_ready(
    tmp_leindex_home, corpus
):
    first = Engine(home=tmp_leindex_home, watch_files=False)
    indexed = first.add_project(corpus).progress
    first.close()
    second = Engine(home=tmp_leindex_home, watch_files=False)
    try:
        project = second.add_project(corpus)
        ready = project.progress
        sizes = [s.size for s in project.manifest.files.values() if s.status == "indexed"]
    finally:
        second.close()
    # Not the bytes this run read (none): the source bytes of the files in the index.
    assert ready.phase == "ready" and ready.bytes_done == sum(sizes) > 0
    assert (ready.files_done, ready.bytes_done) == (indexed.files_done, indexed.bytes_done)


def test_opening_a_project_removes_what_killed_writes_left(tmp_leindex_home, corpus):
    engine, project, _ = reopen(tmp_leindex_home, corpus)
    engine.close()
    stale = project.index_dir / ".vectors.0123456789abcdef.i8.npy.k2j4x8q1.tmp"
    fresh = project.index_dir / ".manifest.json.a8d3kq0z.tmp"  # maybe a live write elsewhere
    for leftover in (stale, fresh):
        leftover.write_bytes(b"x" * 4096)
    long_ago = time.time() - 3600
    os.utime(stale, (long_ago, long_ago))
    engine, project, _ = reopen(tmp_leindex_home, corpus)
    try:
        assert not stale.exists() and fresh.exists()
        assert paths_of(engine.search("MemoryTracker")) == ["src/engine_core.py"]
    finally:
        engine.close()


def reopen(home: Path, corpus: Path):
    engine = Engine(home=home, watch_files=False)
    progress = []
    project = engine.add_project(corpus, on_progress=progress.append)
    indexing = [p for p in progress if p.phase == "indexing"]
    return engine, project, max(p.files_total for p in indexing)


def test_corrupt_manifest_means_rebuild(tmp_leindex_home, corpus, caplog):
    engine, project, _ = reopen(tmp_leindex_home, corpus)
    engine.close()
    (project.index_dir / MANIFEST_FILE).write_text('{"version": 1, "files": [')
    engine, project, reindexed = reopen(tmp_leindex_home, corpus)
    try:
        assert reindexed == len(project.manifest.files)
        assert paths_of(engine.search("MemoryTracker")) == ["src/engine_core.py"]
        assert "rebuilding" in caplog.text
    finally:
        engine.close()


def test_missing_manifest_means_rebuild(tmp_leindex_home, corpus):
    engine, project, _ = reopen(tmp_leindex_home, corpus)
    engine.close()
    (project.index_dir / MANIFEST_FILE).unlink()
    engine, project, reindexed = reopen(tmp_leindex_home, corpus)
    try:
        assert reindexed == len(project.manifest.files)
        assert len(engine.search("MemoryTracker").hits) == 1  # no duplicate documents
    finally:
        engine.close()


def test_broken_fulltext_dir_is_set_aside_and_rebuilt(tmp_leindex_home, corpus):
    engine, project, _ = reopen(tmp_leindex_home, corpus)
    engine.close()
    meta = project.index_dir / FULLTEXT_DIR / "meta.json"
    meta.write_text("garbage")
    engine, project, reindexed = reopen(tmp_leindex_home, corpus)
    try:
        assert reindexed == len(project.manifest.files)
        assert paths_of(engine.search("MemoryTracker")) == ["src/engine_core.py"]
        assert any(".corrupt." in p.name for p in project.index_dir.iterdir())
    finally:
        engine.close()


def test_tampered_vectors_are_rebuilt_not_loaded(tmp_leindex_home, corpus):
    engine, project, _ = reopen(tmp_leindex_home, corpus)
    engine.close()
    with open(VectorIndex.saved_files(project.index_dir)["vectors"], "r+b") as handle:
        handle.seek(64)
        # Flipped, not overwritten: int8 rows may already hold 0xff (-1) there.
        flipped = bytes(byte ^ 0xFF for byte in handle.read(4))
        handle.seek(64)
        handle.write(flipped)
    engine, project, _ = reopen(tmp_leindex_home, corpus)
    try:
        assert not project.vector_index_loaded  # lazy: found at the first semantic search
        first = engine.search("open an http connection", mode="semantic")
        assert any("being rebuilt" in note for note in first.notes)
        assert any(".corrupt." in p.name for p in project.index_dir.iterdir())
        deadline = time.monotonic() + 30
        while project.semantic_note and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not project.pending_vector_paths and not project.semantic_note
        rebuilt = engine.search("open an http connection", mode="semantic")
        assert rebuilt.hits[0].path == "src/http_client.py" and not rebuilt.notes
    finally:
        engine.close()


def test_fulltext_search_never_loads_vectors(tmp_leindex_home, corpus):
    engine, project, _ = reopen(tmp_leindex_home, corpus)
    engine.close()
    engine, project, _ = reopen(tmp_leindex_home, corpus)
    try:
        assert not project.vector_index_loaded  # opening does not load it
        assert engine.search("MemoryTracker").hits
        assert not project.vector_index_loaded and project.vector_bytes == 0
        assert project.vector_search == ""
        engine.search("memory tracker", mode="hybrid")
        assert project.vector_index_loaded and project.vector_search == "exact"
    finally:
        engine.close()


class _Refusing:
    def reserve(self, nbytes, purpose, priority=None, project=None):
        from engine.memory.reservations import ReservationRefused, ReservationRequest

        request = ReservationRequest(nbytes, purpose, priority, project)
        raise ReservationRefused(request, 0, "it would exceed the budget")


def test_refused_reservation_is_a_note_and_loads_nothing(tmp_leindex_home, corpus):
    engine, project, _ = reopen(tmp_leindex_home, corpus)
    try:
        project.unload_vectors()
        project.reserver = _Refusing()
        response = engine.search("http connection", mode="semantic")
        assert not project.vector_index_loaded and response.hits == ()
        assert response.notes and response.notes[0].startswith(
            f"semantic unavailable for {project.name}: "
        )
        assert len(project.query_cache) == 0  # a degraded answer is not cached
        project.reserver = None
        assert engine.search("http connection", mode="semantic").hits
        assert project.vector_index_loaded
    finally:
        engine.close()


def test_empty_semantic_answer_is_not_cached(engine, corpus):
    project = engine.add_project(corpus)
    response = engine.search("(){}", mode="semantic", literal=True)
    assert response.hits == () and len(project.query_cache) == 0


def test_needle_is_in_the_semantic_top_5(engine, corpus):
    (corpus / "src" / "ledger.py").write_text(
        "def zebrafish_quantum_ledger(entries):\n    return sorted(entries)\n"
    )
    engine.add_project(corpus)
    hits = engine.search("quantum ledger for zebrafish", mode="semantic", limit=5).hits
    assert "src/ledger.py" in [hit.path for hit in hits]


def test_unload_and_reload_vectors(engine, corpus):
    project = engine.add_project(corpus)
    assert engine.search("http connection", mode="semantic").hits
    before = project.index_bytes
    released = project.unload_vectors()
    assert released > 0 and not project.vector_index_loaded
    assert project.vector_bytes == 0 and project.index_bytes < before
    hits = engine.search("an http connection", mode="semantic").hits  # not a cached query
    assert hits[0].path == "src/http_client.py"
    assert project.vector_index_loaded


def test_changes_while_vectors_are_unloaded_are_embedded_on_reload(engine, corpus):
    project = engine.add_project(corpus)
    project.unload_vectors()
    (corpus / "src" / "quantum.py").write_text("def entangle_qubits(pair):\n    pass\n")
    engine.update_files(project.name, ["src/quantum.py"])
    hits = engine.search("entangle qubits", mode="semantic").hits
    assert hits[0].path == "src/quantum.py"


def test_accounting_returns_to_zero_after_dropping_everything(engine, corpus):
    project = engine.add_project(corpus)
    for query in ("MemoryTracker", "socket", "argparse"):
        engine.search(query)
        engine.search(query, mode="hybrid")
    assert engine.loaded_files > 0 and engine.cached_queries == 6
    assert engine.loaded_content_bytes == project.loaded_content_bytes > 0
    assert engine.query_cache_bytes == project.query_cache_bytes > 0
    dropped = project.drop_caches()
    assert dropped.entries > 0
    assert (engine.loaded_files, engine.cached_queries) == (0, 0)
    assert (engine.loaded_content_bytes, engine.query_cache_bytes) == (0, 0)


def stand_in_config(max_loaded_files=1000, max_cached_queries=500, project_files=100):
    defaults = SimpleNamespace(
        max_loaded_files=project_files, max_cached_queries=50, priority=ProjectPriority.MEDIUM
    )
    memory = SimpleNamespace(
        total_budget_mb=3072,
        max_loaded_files=max_loaded_files,
        max_cached_queries=max_cached_queries,
        project_defaults=defaults,
    )
    return SimpleNamespace(memory=memory)


def test_global_caps_evict_the_globally_oldest(tmp_leindex_home, tmp_path):
    config = stand_in_config(max_loaded_files=3, max_cached_queries=2)
    engine = Engine(home=tmp_leindex_home, config_provider=lambda: config, watch_files=False)
    try:
        projects = []
        for name in ("one", "two"):
            root = tmp_path / name
            root.mkdir()
            for n in range(3):
                (root / f"f{n}.py").write_text(f"shared_word = {n}\n")
            projects.append(engine.add_project(root))
        for project in projects:
            for n in range(3):
                project.read_file(f"f{n}.py")
        assert engine.loaded_files == 3
        assert len(projects[0].loaded_files) == 0  # the oldest, all in the first project
        for query in ("shared_word", "f0", "f1"):
            engine.search(query, project="one")
        engine.search("shared_word", project="two")
        assert engine.cached_queries == 2
        assert len(projects[1].query_cache) == 1
    finally:
        engine.close()


def test_apply_config_trims_caches_to_new_caps(tmp_leindex_home, corpus):
    config = stand_in_config()
    engine = Engine(home=tmp_leindex_home, config_provider=lambda: config, watch_files=False)
    try:
        project = engine.add_project(corpus)
        for rel in list(project.manifest.files)[:4]:
            project.read_file(rel)
        loaded = len(project.loaded_files)
        dropped = engine.apply_config(stand_in_config(project_files=1))
        assert dropped == (loaded - 1, 0) and len(project.loaded_files) == 1
    finally:
        engine.close()


def test_registry_names_are_unique_and_stable(tmp_leindex_home, tmp_path):
    first, second = tmp_path / "a" / "proj", tmp_path / "b" / "proj"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    assert engine.registry.add(first).name == "proj"
    assert engine.registry.add(second).name == "proj-2"
    assert engine.registry.add(first) is engine.registry.get("proj")
    engine.remove_project("proj")
    assert [p.name for p in engine.registry.list()] == ["proj-2"]
    engine.close()
    # A new process reading the same home gives each directory the same name (and index).
    again = Engine(home=tmp_leindex_home, watch_files=False)
    assert again.registry.add(second).name == "proj-2"
    assert again.registry.add(first).name == "proj"
    again.close()
    with pytest.raises(NotADirectoryError):
        Engine(home=tmp_leindex_home, watch_files=False).registry.add(tmp_path / "missing")


def test_priority_and_caps_come_from_config(engine, corpus):
    project = engine.add_project(corpus, priority="high")
    assert project.priority is ProjectPriority.HIGH
    assert project.loaded_files.max_entries == project.settings.max_loaded_files == 100
    assert project.query_cache.max_entries == 50


def test_index_files_are_private(engine, corpus):
    project = engine.add_project(corpus)
    assert project.index_dir.stat().st_mode & 0o777 == 0o700
    saved_vectors = VectorIndex.saved_files(project.index_dir).values()
    for path in (project.index_dir / MANIFEST_FILE, project.index_dir / VECTORS_META_FILE):
        assert path.stat().st_mode & 0o777 == 0o600
    for path in saved_vectors:
        assert path.stat().st_mode & 0o777 == 0o600


def test_searching_the_repository_itself(engine):
    engine.add_project(REPO_ROOT, exclude=("tests/", "docs/", "screenshots/"))
    hits = engine.search("class ProjectRegistry", literal=True).hits
    assert [hit.path for hit in hits] == ["engine/index/registry.py"]
    semantic = engine.search("gitignore rules walk directory", mode="hybrid", limit=5).hits
    assert "engine/index/walker.py" in [hit.path for hit in semantic]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read every file")
def test_unreadable_file_is_skipped_and_retried(engine, corpus):
    locked = corpus / "src" / "locked.py"
    locked.write_text("locked_marker = 1\n")
    locked.chmod(0)
    project = engine.add_project(corpus)
    assert project.skipped.get("unreadable") == 1
    locked.chmod(0o600)
    engine.update_files(project.name, ["src/locked.py"])
    assert paths_of(engine.search("locked_marker")) == ["src/locked.py"]


def test_gitignore_change_resyncs_through_the_watcher(tmp_leindex_home, corpus):
    engine = Engine(home=tmp_leindex_home, watch_files=True)
    try:
        engine.add_project(corpus)
        assert paths_of(engine.search("argparse"))
        (corpus / ".gitignore").write_text("*.log\nsecret/\nsrc/parser.py\n")
        assert wait_for(lambda: not engine.search("argparse").hits)
        (corpus / "newdir" / "deep").mkdir(parents=True)
        (corpus / "newdir" / "deep" / "m.py").write_text("deep_marker = 1\n")
        found = wait_for(lambda: engine.search("deep_marker").hits)
        assert [hit.path for hit in found] == ["newdir/deep/m.py"]
    finally:
        engine.close()


def test_search_all_projects_merges_results(engine, corpus, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.py").write_text("class MemoryTracker2:\n    MemoryTracker = None\n")
    engine.add_project(corpus)
    engine.add_project(other)
    projects = {hit.project for hit in engine.search("MemoryTracker").hits}
    assert projects == {"corpus", "other"}


def test_searches_keep_working_while_files_change(engine, corpus):
    import threading

    project = engine.add_project(corpus)
    errors: list[BaseException] = []
    stop = threading.Event()

    def search_loop():
        while not stop.is_set():
            try:
                for mode in ("fulltext", "semantic", "hybrid"):
                    engine.search("MemoryTracker", mode=mode)
            except BaseException as error:  # noqa: BLE001 - the test reports any failure
                errors.append(error)
                return

    threads = [threading.Thread(target=search_loop) for _ in range(2)]
    for thread in threads:
        thread.start()
    for n in range(20):
        (corpus / "src" / "churn.py").write_text(f"churn_value_{n} = {n}\n")
        engine.update_files(project.name, ["src/churn.py"])
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert paths_of(engine.search("churn_value_19")) == ["src/churn.py"]
    assert engine.search("churn_value_18").hits == ()


def test_index_busy_in_another_writer_serves_what_is_on_disk(
    tmp_leindex_home, corpus, monkeypatch, caplog
):
    import tantivy

    from engine.index import fulltext

    first, project, _ = reopen(tmp_leindex_home, corpus)
    first.close()
    (corpus / "src" / "late.py").write_text("late_marker = 1\n")
    other_writer = tantivy.Index.open(str(project.index_dir / FULLTEXT_DIR)).writer(15_000_000, 1)
    monkeypatch.setattr(fulltext, "WRITER_LOCK_WAIT_SECONDS", 0.2)
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    try:
        engine.add_project(corpus)
        assert paths_of(engine.search("MemoryTracker")) == ["src/engine_core.py"]
        assert engine.search("late_marker").hits == ()
        assert "another process is writing" in caplog.text
    finally:
        del other_writer
        engine.close()


def test_concurrent_index_requests_share_one_project(engine, corpus):
    first = engine.index_project_async(corpus)
    second = engine.index_project_async(corpus)
    third = engine.add_project(corpus)
    assert first is second is third
    assert first.ready.wait(30)
    assert len(engine.search("MemoryTracker").hits) == 1
