"""The semantic pieces: code tokens, the hashing embedder, chunking and the vector index."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import hnswlib
import numpy as np
import pytest

from engine.index.chunker import MAX_CHUNK_LINES, chunk_lines
from engine.index.embed import Embedder, HashingEmbedder, code_tokens
from engine.index.engine import Engine
from engine.index.vectors import (
    CHUNKS_FILE,
    ROW_EXTRA_BYTES,
    SCALES_FILE,
    VECTORS_FILE,
    VECTORS_META_FILE,
    VectorIndex,
    VectorIndexError,
)
from engine.memory.reservations import Purpose, UnlimitedReserver
from engine.priority import ProjectPriority


def test_code_tokens_split_camel_and_snake_case():
    tokens = code_tokens("parseHTTPResponse read_file_lines")
    assert {"parse", "http", "response", "parsehttpresponse"} <= set(tokens)
    assert {"read", "file", "lines", "read_file_lines"} <= set(tokens)


def test_hashing_embedder_is_deterministic_and_normalised():
    first = HashingEmbedder(64).embed(["def open_http_connection(host):"])
    second = HashingEmbedder(64).embed(["def open_http_connection(host):"])
    assert isinstance(HashingEmbedder(), Embedder)
    assert np.array_equal(first, second)
    assert np.linalg.norm(first[0]) == pytest.approx(1.0, abs=1e-5)
    assert not np.any(HashingEmbedder(64).embed(["(){};"])[0])


def test_similar_code_is_closer_than_unrelated_code():
    embedder = HashingEmbedder()
    query, near, far = embedder.embed(
        ["http connection", "def open_http_connection(host): ...", "class MemoryTracker: pass"]
    )
    assert float(query @ near) > float(query @ far)


def test_chunks_start_at_definitions_and_cover_the_file():
    lines = [f"x{i} = {i}" for i in range(20)] + ["def f():", "    pass"] + ["y = 1"] * 100
    chunks = chunk_lines(lines)
    assert chunks[0].start == 1 and chunks[1].start == 21
    assert all(chunk.end - chunk.start + 1 <= MAX_CHUNK_LINES for chunk in chunks)
    assert chunks[-1].end == len(lines)


def build_index() -> VectorIndex:
    embedder = HashingEmbedder(32)
    index = VectorIndex(32, embedder.name, capacity=16)
    for number in range(40):  # more than the capacity: the index must grow
        vectors = embedder.embed([f"function_{number} value_{number}"])
        index.replace_file(f"f{number}.py", [(1, 5)], vectors)
    return index


def test_vector_index_replaces_and_removes_files():
    embedder = HashingEmbedder(32)
    index = build_index()
    assert len(index) == 40
    index.replace_file("f1.py", [(1, 2), (3, 4)], embedder.embed(["a b", "c d"]))
    assert len(index) == 41
    assert index.remove_file("f1.py") == 2 and len(index) == 39
    hits = index.query(embedder.embed(["function_7 value_7"])[0], 3)
    assert hits[0][0] == "f7.py" and hits[0][3] == pytest.approx(1.0, abs=1e-3)


def test_vector_index_round_trips_through_disk(tmp_path: Path):
    index = build_index()
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, 32, index.embedder_name)
    assert len(loaded) == 40 and sorted(loaded.paths()) == sorted(index.paths())
    for path in VectorIndex.saved_files(tmp_path).values():
        assert path.stat().st_mode & 0o777 == 0o600


def test_tampered_vector_file_is_refused_before_loading(tmp_path: Path):
    build_index().save(tmp_path)
    rows = VectorIndex.saved_files(tmp_path)["vectors"]
    data = bytearray(rows.read_bytes())
    data[100] ^= 0xFF
    rows.write_bytes(bytes(data))
    with pytest.raises(VectorIndexError, match="sha256"):
        VectorIndex.load(tmp_path, 32, HashingEmbedder(32).name)


def test_malformed_sidecar_and_other_embedder_are_refused(tmp_path: Path):
    build_index().save(tmp_path)
    with pytest.raises(VectorIndexError, match="embedder"):
        VectorIndex.load(tmp_path, 64, "another-model")
    meta = json.loads((tmp_path / VECTORS_META_FILE).read_text())
    meta["paths"][0] = ["not", "a", "path"]
    (tmp_path / VECTORS_META_FILE).write_text(json.dumps(meta))
    with pytest.raises(VectorIndexError, match="paths"):
        VectorIndex.load(tmp_path, 32, HashingEmbedder(32).name)
    build_index().save(tmp_path)
    (tmp_path / VECTORS_META_FILE).write_text("{not json")
    with pytest.raises(VectorIndexError, match="cannot be read"):
        VectorIndex.load(tmp_path, 32, HashingEmbedder(32).name)


def test_memory_bytes_grow_with_the_index():
    small = VectorIndex(32, "x", capacity=16)
    assert build_index().memory_bytes() > small.memory_bytes() > 0


def test_trim_capacity_releases_unused_slots():
    index = build_index()
    for number in range(40, 1100):
        index.replace_file(f"f{number}.py", [(1, 5)], HashingEmbedder(32).embed([f"x{number}"]))
    before = index.memory_bytes()
    index.trim_capacity()
    assert index.memory_bytes() < before and len(index) == 1100
    hits = index.query(HashingEmbedder(32).embed(["function_7 value_7"])[0], 1)
    assert hits[0][0] == "f7.py"


def test_compact_table_round_trips_without_python_objects_per_chunk(tmp_path: Path):
    index = build_index()
    index.replace_file(
        "f3.py", [(1, 9), (10, 20)], HashingEmbedder(32).embed(["alpha beta", "gamma delta"])
    )
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, 32, index.embedder_name)
    assert len(loaded) == len(index) == 41
    meta = json.loads((tmp_path / VECTORS_META_FILE).read_text())
    assert len(meta["paths"]) == len(set(meta["paths"])) == 40  # each path stored once
    chunks = np.load(VectorIndex.saved_files(tmp_path)["chunks"], allow_pickle=False)
    assert chunks.dtype == np.int32 and chunks.shape == (41, 3)
    query = HashingEmbedder(32).embed(["gamma delta"])[0]
    assert loaded.query(query, 1)[0][:3] == index.query(query, 1)[0][:3] == ("f3.py", 10, 20)


def test_legacy_sidecar_is_set_aside(tmp_path: Path):
    (tmp_path / "vectors.json").write_text('{"version": 1, "chunks": []}')
    with pytest.raises(VectorIndexError, match="version 1"):
        VectorIndex.load(tmp_path, 32, "x")
    assert not (tmp_path / "vectors.json").exists()
    assert list(tmp_path.glob("vectors.json.legacy.*"))


def test_truncated_array_is_set_aside(tmp_path: Path):
    build_index().save(tmp_path)
    rows = VectorIndex.saved_files(tmp_path)["vectors"]
    rows.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(VectorIndexError, match="sha256"):
        VectorIndex.load(tmp_path, 32, HashingEmbedder(32).name)
    assert list(tmp_path.glob(rows.name + ".corrupt.*"))


def test_a_save_that_dies_part_way_leaves_the_previous_set_whole(tmp_path, monkeypatch):
    from engine.index import vectors as vectors_module

    first = build_index()
    first.save(tmp_path)
    second = build_index()
    second.replace_file("late.py", [(1, 2)], HashingEmbedder(32).embed(["late arrival"]))
    real_write = vectors_module.atomic_write_bytes

    def dies_at_the_chunks(path, data, *args, **kwargs):
        if path.name.endswith(".chunks.npy"):
            raise OSError(28, "No space left on device")
        return real_write(path, data, *args, **kwargs)

    monkeypatch.setattr(vectors_module, "atomic_write_bytes", dies_at_the_chunks)
    with pytest.raises(OSError):
        second.save(tmp_path)  # its rows and scales are written, its sidecar is not
    loaded = VectorIndex.load(tmp_path, 32, first.embedder_name)
    assert len(loaded) == len(first) and "late.py" not in loaded.paths()
    monkeypatch.setattr(vectors_module, "atomic_write_bytes", real_write)
    second.save(tmp_path)
    assert "late.py" in VectorIndex.load(tmp_path, 32, first.embedder_name).paths()
    # Only the current set is left: the earlier one and the orphans of the failed save are gone.
    current = {path.name for path in VectorIndex.saved_files(tmp_path).values()}
    assert {path.name for path in tmp_path.glob("vectors.*.npy")} == current


def test_a_version_3_set_loads_and_its_next_save_replaces_it(tmp_path):
    index = build_index()
    index.save(tmp_path)
    meta = json.loads((tmp_path / VECTORS_META_FILE).read_text())
    for key, path in VectorIndex.saved_files(tmp_path).items():
        path.rename(
            tmp_path / {"vectors": VECTORS_FILE, "scales": SCALES_FILE, "chunks": CHUNKS_FILE}[key]
        )
    del meta["files"]
    meta["version"] = 3
    (tmp_path / VECTORS_META_FILE).write_text(json.dumps(meta))
    loaded = VectorIndex.load(tmp_path, 32, index.embedder_name)
    assert sorted(loaded.paths()) == sorted(index.paths())
    loaded.save(tmp_path)
    assert not any((tmp_path / name).exists() for name in (VECTORS_FILE, SCALES_FILE, CHUNKS_FILE))
    assert len(VectorIndex.load(tmp_path, 32, index.embedder_name)) == len(index)


@pytest.mark.parametrize(
    "name", ["../outside.i8.npy", "/etc/passwd", "vectors.0123456789abcdef.chunks.npy"]
)
def test_a_sidecar_naming_other_files_is_refused(tmp_path, name):
    build_index().save(tmp_path)
    meta = json.loads((tmp_path / VECTORS_META_FILE).read_text())
    meta["files"]["vectors"] = name  # the last: a tagged name, but of another array
    (tmp_path / VECTORS_META_FILE).write_text(json.dumps(meta))
    with pytest.raises(VectorIndexError, match="'files'"):
        VectorIndex.load(tmp_path, 32, HashingEmbedder(32).name)


def test_colliding_pair_never_gives_a_zero_query_vector():
    vector = HashingEmbedder().embed(["render style"])[0]
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_needle_is_found_by_exact_search():
    embedder = HashingEmbedder()
    index = VectorIndex(embedder.dim, embedder.name)
    rng = np.random.default_rng(1)
    words = ["parse", "buffer", "token", "render", "socket", "config", "ledger", "stream"]
    for number in range(3000):
        text = " ".join(rng.choice(words, size=12)) + f" helper_{number}"
        index.replace_file(f"m{number}.py", [(1, 10)], embedder.embed([text]))
    needle = "def zebrafish_quantum_ledger(entries):\n    return sum(entries)"
    index.replace_file("needle.py", [(1, 2)], embedder.embed(["needle.py\n" + needle]))
    hits = index.query(embedder.embed(["quantum ledger for zebrafish"])[0], 5)
    assert "needle.py" in [hit[0] for hit in hits]


def test_hnsw_recall_at_10_against_exact_search():
    rng = np.random.default_rng(7)
    dim, count = 32, 6000
    centres = rng.normal(size=(60, dim))
    data = centres[rng.integers(0, 60, count)] + 0.6 * rng.normal(size=(count, dim))
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    index = VectorIndex(dim, "synthetic", hnsw_threshold=1000)
    for number in range(0, count, 10):
        index.replace_file(
            f"f{number}", [(line, line) for line in range(10)], data[number : number + 10]
        )
    assert index.uses_hnsw
    index.query(data[0], 10)  # starts the graph's build
    assert index.wait_for_graph(60)
    queries = rng.normal(size=(1000, dim)).astype(np.float32)
    found = total = 0
    for query in queries:
        query /= np.linalg.norm(query)
        exact = {(p, s) for p, s, _, _ in _exact(index, query)}
        approx = {(p, s) for p, s, _, _ in index.query(query, 10)}
        found += len(exact & approx)
        total += len(exact)
    assert index.memory_bytes_estimated
    assert found / total >= 0.99


def _exact(index: VectorIndex, query: np.ndarray) -> list[tuple[str, int, int, float]]:
    threshold, index.hnsw_threshold = index.hnsw_threshold, 10**9
    try:
        return index.query(query, 10)
    finally:
        index.hnsw_threshold = threshold


def test_an_empty_vector_index_round_trips_through_disk(tmp_path):
    empty = VectorIndex(32, "test-32")
    empty.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, 32, "test-32")
    assert len(loaded) == 0 and loaded.query(np.ones(32, dtype=np.float32), 5) == []


def test_saved_rows_are_int8_and_load_back_within_a_step_of_127(tmp_path: Path):
    embedder = HashingEmbedder()
    texts = [
        f"def handler_{n}(request, session_{n % 7}): return parse_{n}(request)" for n in range(300)
    ]
    originals = embedder.embed(texts)
    index = VectorIndex(embedder.dim, embedder.name, capacity=16)
    for number, vector in enumerate(originals):
        index.replace_file(f"f{number}.py", [(1, 3)], vector[None, :])
    index.save(tmp_path)
    saved = np.load(VectorIndex.saved_files(tmp_path)["vectors"], allow_pickle=False)
    assert saved.dtype == np.int8 and saved.shape == (300, embedder.dim)
    loaded = VectorIndex.load(tmp_path, embedder.dim, embedder.name)
    best = [loaded.query(vector, 1)[0] for vector in originals]
    # Each text still finds itself first (as before the save), at a similarity of ~1.
    assert [hit[0] for hit in best] == [index.query(v, 1)[0][0] for v in originals]
    assert min(hit[3] for hit in best) > 0.998
    # The float16 rows of version 2 are not kept beside version 3's.
    (tmp_path / "vectors.f16.npy").write_bytes(b"old")
    index.save(tmp_path)
    assert not (tmp_path / "vectors.f16.npy").exists()


def test_rows_are_held_as_int8_with_a_scale_and_score_within_a_step_of_127():
    rng = np.random.default_rng(3)
    dim = 64
    vectors = rng.normal(size=(500, dim)).astype(np.float32)
    vectors[:, : dim // 2] = 0.0  # hashing vectors are mostly zeros
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex(dim, "test-64", capacity=16)
    index.replace_file("a.py", [(n, n) for n in range(len(vectors))], vectors)
    # One byte per component, plus a scale, path id and span per row.
    capacity = len(index._path_ids)
    assert index.memory_bytes() >= capacity * (dim + ROW_EXTRA_BYTES)
    assert index.memory_bytes() < capacity * (dim + ROW_EXTRA_BYTES) + 4096
    query = vectors[17]
    hits = index.query(query, 500)
    assert hits[0][1] == 17 and hits[0][3] > 0.998
    scores = {start: score for _path, start, _end, score in hits}
    exact = vectors @ query
    # Each component is within half a step of 1/127 of its row's largest one.
    assert max(abs(scores[n] - exact[n]) for n in range(len(vectors))) < 0.01


def _small_module(root: Path) -> Path:
    root.mkdir()
    (root / "small.py").write_text(
        "import zlib\n\n\ndef compress_bytes(data):\n    return zlib.compress(data)\n\n\n"
        "def parse_config(path):\n    return open(path).read()\n"
    )
    return root


def _vector_spans(engine: Engine) -> list[tuple[int, int]]:
    vectors = engine.registry.list()[0].vectors
    probe = np.zeros(vectors.dim, dtype=np.float32)
    probe[0] = 1.0
    return sorted((start, end) for _path, start, end, _score in vectors.query(probe, 10))


class _DefinitionEmbedder(HashingEmbedder):
    embeds_definitions = True


def test_an_embedder_that_reads_definitions_gets_one_vector_each(tmp_path):
    engine = Engine(home=tmp_path / "home", watch_files=False, embedder=_DefinitionEmbedder())
    try:
        engine.add_project(_small_module(tmp_path / "proj"))
        # The imports, then one piece per function.
        assert _vector_spans(engine) == [(1, 3), (4, 7), (8, 10)]
    finally:
        engine.close()


def test_the_hashing_embedder_gets_line_windows(tmp_path):
    engine = Engine(home=tmp_path / "home", watch_files=False)
    try:
        engine.add_project(_small_module(tmp_path / "proj"))
        assert _vector_spans(engine) == [(1, 10)]
    finally:
        engine.close()


def test_a_method_is_embedded_with_its_path_and_class(tmp_path):
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "client.py").write_text(
        "class HttpClient:\n    timeout = 5\n\n    def fetch(self, url):\n        return url\n"
    )
    seen: list[str] = []

    class Recording(_DefinitionEmbedder):
        def embed(self, texts):
            seen.extend(texts)
            return super().embed(texts)

    engine = Engine(home=tmp_path / "home", watch_files=False, embedder=Recording())
    try:
        engine.add_project(root)
    finally:
        engine.close()
    assert (
        "pkg client.py\nclass HttpClient\n    def fetch(self, url):\n        return url\n" in seen
    )
    assert "pkg client.py\nclass HttpClient:\n    timeout = 5\n" in seen


def _index_above_its_graph_threshold(seed: int) -> tuple[VectorIndex, np.ndarray]:
    """300 random unit rows, one file each (`f<n>.py`), in an index whose threshold is 100."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((300, 32)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    index = VectorIndex(32, "test-32", hnsw_threshold=100)
    for number, row in enumerate(rows):
        index.replace_file(f"f{number}.py", [(1, 2)], row[None, :])
    return index, rows


def test_the_hnsw_graph_is_built_only_when_its_bytes_are_granted():
    index, rows = _index_above_its_graph_threshold(seed=3)
    asked: list[int] = []

    def refuse(nbytes):
        asked.append(nbytes)
        return None

    index.graph_reserver = refuse
    exact = [hit[0] for hit in index.query(rows[7], 5)]
    assert exact[0] == "f7.py" and not index.memory_bytes_estimated  # no graph built
    index.query(rows[8], 5)
    assert len(asked) == 1  # not asked again until the index changes

    granted = []

    def grant(nbytes):
        reserver = UnlimitedReserver()
        granted.append(reserver.reserve(nbytes, Purpose.VECTOR_INDEX, ProjectPriority.MEDIUM))
        return granted[-1]

    index.graph_reserver = grant
    index.replace_file("extra.py", [(1, 2)], rows[0][None, :])
    # Granted: the graph is built on a thread; this query is answered exactly meanwhile.
    assert [hit[0] for hit in index.query(rows[7], 5)][0] == "f7.py"
    assert index.wait_for_graph(30)
    assert [hit[0] for hit in index.query(rows[7], 5)][0] == "f7.py"
    assert index.memory_bytes_estimated  # the graph was built
    assert granted and granted[0].released  # its bytes are in RSS now, the grant is given back


class _GatedGraph:
    """An hnswlib index whose first `add_items` waits for `go`: the build is held mid-way."""

    started = threading.Event()
    go = threading.Event()

    def __init__(self, *args, **kwargs) -> None:
        self._real = hnswlib.Index(*args, **kwargs)
        self._first = True

    def add_items(self, *args, **kwargs):
        if self._first:
            self._first = False
            type(self).started.set()
            assert type(self).go.wait(30)
        return self._real.add_items(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.fixture
def held_graph_build(monkeypatch):
    """A 300-row index above its graph threshold whose graph build stops at its first block
    until `_GatedGraph.go` is set; yields the index and the grants handed out."""
    from engine.index import vectors as vectors_module

    _GatedGraph.started, _GatedGraph.go = threading.Event(), threading.Event()
    monkeypatch.setattr(vectors_module, "hnswlib", SimpleNamespace(Index=_GatedGraph))
    index, rows = _index_above_its_graph_threshold(seed=5)
    grants = []

    def grant(nbytes):
        grants.append(
            UnlimitedReserver().reserve(nbytes, Purpose.VECTOR_INDEX, ProjectPriority.LOW)
        )
        return grants[-1]

    index.graph_reserver = grant
    # The query that starts the build is answered exactly, without waiting for it.
    assert index.query(rows[7], 1)[0][0] == "f7.py"
    assert _GatedGraph.started.wait(30) and index.graph_building
    yield index, rows, grants
    _GatedGraph.go.set()
    index.wait_for_graph(30)


def test_changes_made_while_the_graph_is_built_are_in_it(held_graph_build):
    index, rows, grants = held_graph_build
    index.replace_file("added.py", [(1, 2)], rows[42][None, :] * -1.0)
    index.remove_file("f5.py")
    # Queries do not wait for the build: exact answers, with the changes.
    assert index.query(-rows[42], 1)[0][0] == "added.py"
    _GatedGraph.go.set()
    assert index.wait_for_graph(30) and not index.graph_building
    assert index.memory_bytes_estimated  # answered by the graph from here on
    assert index.query(-rows[42], 1)[0][0] == "added.py"
    # Removed rows are marked deleted in the graph: ten live neighbours, not nine.
    near_removed = [hit[0] for hit in index.query(rows[5], 10)]
    assert len(near_removed) == 10 and "f5.py" not in near_removed
    assert index.query(rows[7], 1)[0][0] == "f7.py"
    assert grants[0].released


def test_a_graph_build_is_abandoned_when_the_index_is_dropped_or_compacted(held_graph_build):
    index, rows, grants = held_graph_build
    index.stop_graph_build()
    _GatedGraph.go.set()
    assert not index.wait_for_graph(30) and not index.graph_building
    assert not index.memory_bytes_estimated and grants[0].released
    # A compaction renumbers rows: a graph built from the old numbering is thrown away.
    _GatedGraph.started.clear()
    _GatedGraph.go.clear()
    index.query(rows[7], 1)
    assert _GatedGraph.started.wait(30)
    index.remove_file("f0.py")
    index.trim_capacity()
    _GatedGraph.go.set()
    assert not index.wait_for_graph(30)
    assert index.query(rows[7], 1)[0][0] == "f7.py"  # exact again; a new build started
    assert index.wait_for_graph(30) and index.query(rows[7], 1)[0][0] == "f7.py"
    assert all(grant.released for grant in grants) and len(grants) == 3


def test_a_projects_vector_index_asks_its_budget_before_building_a_graph(tmp_path):
    engine = Engine(home=tmp_path / "home", watch_files=False)
    try:
        project = engine.add_project(_small_module(tmp_path / "proj"))
        assert project.vectors.graph_reserver == project._reserve_graph
        project.unload_vectors(wait=True)
        assert project.load_vectors()
        assert project.vectors.graph_reserver == project._reserve_graph
    finally:
        engine.close()


def test_growth_past_the_capacity_is_counted_whole_as_it_becomes_resident():
    from engine import procfs

    dim = 256
    index = VectorIndex(dim, "test-256", capacity=16)
    rows = np.ones((150_000, dim), dtype=np.float32) / 16.0
    index.replace_file("a.py", [(1, 1)] * len(rows), rows)  # fills to capacity, touched
    capacity = len(index._path_ids)
    room = capacity - len(index)
    assert index.growth_bytes(room) == room * (dim + ROW_EXTRA_BYTES)  # within: what is written
    predicted = index.growth_bytes(room + 1)
    before = procfs.statm_rss_bytes()
    index.replace_file("b.py", [(1, 1)] * (room + 1), rows[: room + 1])
    grown = procfs.statm_rss_bytes() - before
    # numpy zero-fills the new part of the table: all of it is resident, as predicted.
    assert predicted >= (len(index._path_ids) - capacity) * (dim + ROW_EXTRA_BYTES)
    assert grown <= predicted * 1.1
    assert grown >= predicted * 0.5
