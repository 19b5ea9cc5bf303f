"""The semantic index: hnswlib (cosine) over chunk vectors, saved with a sha256 sidecar.

A file's chunks are replaced as a unit: its old labels are marked deleted (their slots reused
by later inserts) and new labels added. The sidecar JSON holds the chunk table and the hash
of the hnswlib file; a file whose hash does not match is never handed to hnswlib.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from pathlib import Path

import hnswlib
import numpy as np

from engine.atomic import atomic_write_text, ensure_private_dir

VECTORS_FILE = "vectors.hnsw"
VECTORS_META_FILE = "vectors.json"
_META_VERSION = 1
_M = 16
_EF_CONSTRUCTION = 64
_EF_SEARCH = 64
_INITIAL_CAPACITY = 1024


class VectorIndexError(ValueError):
    """A saved vector index that cannot be used (missing, corrupt, or for another embedder)."""


class VectorIndex:
    """Chunk vectors of one project, keyed by file; thread-safe."""

    def __init__(self, dim: int, embedder_name: str, capacity: int = _INITIAL_CAPACITY) -> None:
        self.dim = dim
        self.embedder_name = embedder_name
        self._lock = threading.RLock()
        self._index = hnswlib.Index(space="cosine", dim=dim)
        self._index.init_index(
            max_elements=max(16, capacity),
            M=_M,
            ef_construction=_EF_CONSTRUCTION,
            allow_replace_deleted=True,
        )
        self._index.set_ef(_EF_SEARCH)
        self._index.set_num_threads(1)
        # label -> (path, start line, end line); labels only grow, slots are reused.
        self._chunks: dict[int, tuple[str, int, int]] = {}
        self._labels_by_path: dict[str, list[int]] = {}
        self._next_label = 0
        self._deleted = 0

    # -- updates ----------------------------------------------------------------------------

    def replace_file(self, path: str, spans: list[tuple[int, int]], vectors: np.ndarray) -> None:
        """Make `spans` (with their `vectors`) the chunks of `path`, dropping the old ones."""
        with self._lock:
            self.remove_file(path)
            if not spans:
                return
            count = len(spans)
            live = len(self._chunks)
            capacity = self._index.get_max_elements()
            if live + count > capacity:
                self._index.resize_index(max(live + count, capacity * 2))
            labels = np.arange(self._next_label, self._next_label + count, dtype=np.int64)
            self._next_label += count
            reuse = min(self._deleted, count)
            if reuse:
                self._index.add_items(vectors[:reuse], labels[:reuse], replace_deleted=True)
                self._deleted -= reuse
            if reuse < count:
                self._index.add_items(vectors[reuse:], labels[reuse:])
            interned = sys.intern(path)
            for label, (start, end) in zip(labels.tolist(), spans, strict=True):
                self._chunks[label] = (interned, start, end)
            self._labels_by_path[interned] = labels.tolist()

    def remove_file(self, path: str) -> int:
        """Drop every chunk of `path`; returns how many there were."""
        with self._lock:
            labels = self._labels_by_path.pop(path, [])
            for label in labels:
                self._index.mark_deleted(label)
                del self._chunks[label]
            self._deleted += len(labels)
            return len(labels)

    def trim_capacity(self, headroom: float = 0.1) -> None:
        """Shrink the pre-allocated slots to what is used plus `headroom` (after a build, when
        doubling may have left up to half of them empty)."""
        with self._lock:
            used = self._index.get_current_count()
            wanted = max(_INITIAL_CAPACITY, int(used * (1.0 + headroom)))
            if wanted < self._index.get_max_elements():
                self._index.resize_index(wanted)

    # -- queries ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._chunks)

    def paths(self) -> list[str]:
        """Files that have chunks in the index."""
        with self._lock:
            return list(self._labels_by_path)

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, int, int, float]]:
        """Up to `k` nearest chunks as (path, start, end, similarity), best first."""
        with self._lock:
            k = min(k, len(self._chunks))
            if k <= 0 or not np.any(vector):
                return []
            while k > 0:
                try:
                    labels, distances = self._index.knn_query(vector, k=k)
                    break
                except RuntimeError:
                    # Too few reachable live elements for k (deleted ones crowd the graph).
                    k //= 2
            else:
                return []
            results = []
            for label, distance in zip(labels[0].tolist(), distances[0].tolist(), strict=True):
                chunk = self._chunks.get(label)
                if chunk is not None:
                    results.append((chunk[0], chunk[1], chunk[2], 1.0 - float(distance)))
            return results

    def memory_bytes(self) -> int:
        """Bytes held, computed from hnswlib's layout (level 0, upper links, locks, label map)."""
        with self._lock:
            capacity = self._index.get_max_elements()
            count = self._index.get_current_count()
            level0_per_element = (2 * _M * 4 + 4) + self.dim * 4 + 8
            per_slot = level0_per_element + 40 + 8 + 4  # + mutex, link-list pointer, level
            upper_links = count * (_M * 4 + 4) // (_M - 1)
            label_map = count * 32 + self._deleted * 32
            python_table = sys.getsizeof(self._chunks) + len(self._chunks) * 120
            return capacity * per_slot + upper_links + label_map + python_table

    # -- persistence ------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the hnswlib file then its sidecar (hash, chunk table), both atomically."""
        directory = ensure_private_dir(Path(directory))
        target = directory / VECTORS_FILE
        temp = directory / f".{VECTORS_FILE}.tmp"
        with self._lock:
            self._index.save_index(str(temp))
            meta = {
                "version": _META_VERSION,
                "embedder": self.embedder_name,
                "dim": self.dim,
                "next_label": self._next_label,
                "deleted": self._deleted,
                "chunks": [[label, *chunk] for label, chunk in self._chunks.items()],
            }
        os.chmod(temp, 0o600)
        meta["sha256"] = _sha256(temp)
        os.replace(temp, target)
        atomic_write_text(directory / VECTORS_META_FILE, json.dumps(meta, separators=(",", ":")))

    @classmethod
    def load(cls, directory: Path, dim: int, embedder_name: str) -> VectorIndex:
        """Load a saved index; raises `VectorIndexError` on any mismatch, before hnswlib reads."""
        directory = Path(directory)
        meta = _read_meta(directory / VECTORS_META_FILE)
        if meta["embedder"] != embedder_name or meta["dim"] != dim:
            raise VectorIndexError(
                f"{directory}: saved for embedder {meta['embedder']!r} (dim {meta['dim']}), "
                f"not {embedder_name!r} (dim {dim})"
            )
        data_path = directory / VECTORS_FILE
        try:
            digest = _sha256(data_path)
        except OSError as error:
            raise VectorIndexError(f"{data_path}: cannot be read: {error}") from None
        if digest != meta["sha256"]:
            raise VectorIndexError(f"{data_path}: sha256 does not match {VECTORS_META_FILE}")
        self = cls.__new__(cls)
        self.dim = dim
        self.embedder_name = embedder_name
        self._lock = threading.RLock()
        self._index = hnswlib.Index(space="cosine", dim=dim)
        try:
            self._index.load_index(str(data_path), allow_replace_deleted=True)
        except (RuntimeError, ValueError, MemoryError) as error:
            raise VectorIndexError(f"{data_path}: hnswlib cannot load it: {error}") from None
        self._index.set_ef(_EF_SEARCH)
        self._index.set_num_threads(1)
        self._chunks = {}
        self._labels_by_path = {}
        for label, path, start, end in meta["chunks"]:
            interned = sys.intern(path)
            self._chunks[label] = (interned, start, end)
            self._labels_by_path.setdefault(interned, []).append(label)
        self._next_label = meta["next_label"]
        self._deleted = meta["deleted"]
        return self


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise VectorIndexError(f"{path}: cannot be read: {error}") from None
    expected = {"version": int, "embedder": str, "dim": int, "next_label": int, "deleted": int}
    if not isinstance(meta, dict) or meta.get("version") != _META_VERSION:
        raise VectorIndexError(f"{path}: not a version {_META_VERSION} vector sidecar")
    for key, kind in expected.items():
        if not isinstance(meta.get(key), kind):
            raise VectorIndexError(f"{path}: key {key!r} is missing or of the wrong type")
    if not isinstance(meta.get("sha256"), str) or not isinstance(meta.get("chunks"), list):
        raise VectorIndexError(f"{path}: key 'sha256' or 'chunks' is missing or wrong")
    for row in meta["chunks"]:
        if not (
            isinstance(row, list)
            and len(row) == 4
            and isinstance(row[0], int)
            and isinstance(row[1], str)
            and isinstance(row[2], int)
            and isinstance(row[3], int)
        ):
            raise VectorIndexError(f"{path}: key 'chunks' holds a malformed row: {row!r}")
    return meta
