"""The semantic pieces: code tokens, the hashing embedder, chunking and the vector index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.index.chunker import MAX_CHUNK_LINES, chunk_lines
from engine.index.embed import Embedder, HashingEmbedder, code_tokens
from engine.index.vectors import VECTORS_FILE, VECTORS_META_FILE, VectorIndex, VectorIndexError


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
    assert hits[0][0] == "f7.py" and hits[0][3] == pytest.approx(1.0, abs=1e-4)


def test_vector_index_round_trips_through_disk(tmp_path: Path):
    index = build_index()
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path, 32, index.embedder_name)
    assert len(loaded) == 40 and sorted(loaded.paths()) == sorted(index.paths())
    assert (tmp_path / VECTORS_FILE).stat().st_mode & 0o777 == 0o600


def test_tampered_vector_file_is_refused_before_loading(tmp_path: Path):
    build_index().save(tmp_path)
    data = bytearray((tmp_path / VECTORS_FILE).read_bytes())
    data[100] ^= 0xFF
    (tmp_path / VECTORS_FILE).write_bytes(bytes(data))
    with pytest.raises(VectorIndexError, match="sha256"):
        VectorIndex.load(tmp_path, 32, HashingEmbedder(32).name)


def test_malformed_sidecar_and_other_embedder_are_refused(tmp_path: Path):
    build_index().save(tmp_path)
    with pytest.raises(VectorIndexError, match="embedder"):
        VectorIndex.load(tmp_path, 64, "another-model")
    meta = json.loads((tmp_path / VECTORS_META_FILE).read_text())
    meta["chunks"][0] = ["not", "a", "row"]
    (tmp_path / VECTORS_META_FILE).write_text(json.dumps(meta))
    with pytest.raises(VectorIndexError, match="chunks"):
        VectorIndex.load(tmp_path, 32, HashingEmbedder(32).name)
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
