"""The semantic index: int8 chunk vectors in one numpy array, searched exactly, with an
hnswlib graph only above `HNSW_THRESHOLD` live chunks.

Memory layout (no per-chunk Python objects): a (capacity, dim) int8 matrix, each row scaled
by its largest component (one float32 scale per row), three int32 arrays (path id, first
line, last line) and a path table (one str per *file*). A file's chunks are contiguous rows;
replacing a file marks its old rows dead (path id -1) and appends. Dead rows are compacted
away by `trim_capacity` and on save. A row is kept within half a step of 1/127 of its
largest component (cosine error below 1e-3); int8 takes half the memory of float16 and
converts to float32 for the exact search's matmul about 4x faster (numpy converts float16 in
software).

On disk, the same rows: `vectors.<tag>.i8.npy` (the live rows), `vectors.<tag>.scale.npy`
(their scales), `vectors.<tag>.chunks.npy` (int32, N x 3) and the sidecar `vectors.meta.json`
(embedder, dim, count, the path list once, the three files' names and sha256). Each save
writes a new set under a new tag and makes it current by replacing the sidecar, so a kill
mid-save leaves a whole set (version 3's sets had fixed names: a kill between two files left
a mix, which failed its hashes and was rebuilt).
No pickle: arrays are read with `allow_pickle=False` after their hash is checked. The sidecar of
the first version (`vectors.json`, every path repeated per chunk) and its `vectors.hnsw` are set
aside when met, and the caller rebuilds; so is a float16 file of version 2 (rebuilt in the
background by the caller, as any vector index that does not load).

The hnswlib graph is not saved: it is rebuilt (both cores, native code, on a thread while
queries are answered exactly) after the first query of an index big enough to need it.
Measurements and reasoning: docs/memory.md, "Vector store".
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import secrets
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import hnswlib
import numpy as np

from engine.atomic import (
    atomic_write_bytes,
    atomic_write_stream,
    atomic_write_text,
    ensure_private_dir,
    set_aside,
)
from engine.memory.reservations import Grant

log = logging.getLogger(__name__)

# Version 3's fixed names; version 4 names each set's three files after a tag of its own
# (`vectors.<tag>.i8.npy`, ...) and the sidecar, written last, says which set is current.
VECTORS_FILE = "vectors.i8.npy"
SCALES_FILE = "vectors.scale.npy"
CHUNKS_FILE = "vectors.chunks.npy"
_ARRAY_SUFFIXES = {"vectors": "i8", "scales": "scale", "chunks": "chunks"}
_FIXED_NAMES = {"vectors": VECTORS_FILE, "scales": SCALES_FILE, "chunks": CHUNKS_FILE}
_TAGGED_NAME = re.compile(r"vectors\.[0-9a-f]{16}\.(?:i8|scale|chunks)\.npy")
VECTORS_META_FILE = "vectors.meta.json"
LEGACY_FILES = ("vectors.json", "vectors.hnsw")
# Version 2's float16 rows: removed when a version 3 index is saved over it.
_REPLACED_FILES = ("vectors.f16.npy",)
_META_VERSION = 4
_READABLE_META_VERSIONS = (3, 4)
_INT8_STEPS = 127.0
# Bytes per row besides its `dim` int8 components: the row's float32 scale, and its path id,
# first and last line (int32 each).
ROW_EXTRA_BYTES = 16
_INITIAL_CAPACITY = 1024
# Past its capacity the table grows by this factor (each step is reserved whole: see
# `growth_bytes`); smaller steps leave less unused near the budget's edge.
_GROWTH_FACTOR = 1.5
# Rows written per block when saving (0.5 MB at 256 dimensions).
_SAVE_BLOCK_ROWS = 2048
# Exact search costs ~N*dim multiply-adds per query: 0.085 s over the kernel's 876k x 256
# int8 rows on this machine (0.95 s when they were float16), so ~0.2 s here. Below this many
# live chunks it is fast enough and always right, and needs no graph (1.1 GB and about 4
# minutes of both cores for the kernel's rows). Above it, hnswlib.
HNSW_THRESHOLD = 2_000_000
# hnswlib parameters tuned for recall@10 >= 0.99 against exact search (tests/unit).
HNSW_M = 24
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 256
# Rows scored per block in exact search: 4096 x 256 float32 = 4 MB of working memory per
# query (the same speed as 8192 rows over the kernel's 876k).
_EXACT_BLOCK_ROWS = 4_096


class VectorIndexError(ValueError):
    """A saved vector index that cannot be used (missing, corrupt, or for another embedder)."""


def hnsw_bytes_estimate(count: int, dim: int, m: int = HNSW_M) -> int:
    """Estimated bytes of an hnswlib graph of `count` float32 vectors (its layout: level 0 with
    2*M links, vectors and labels; upper levels; one mutex per element; the label map)."""
    level0 = (2 * m * 4 + 4) + dim * 4 + 8
    per_element = level0 + 40 + 8 + 4 + 32  # + mutex, link-list pointer, level, label map
    upper_links = (m * 4 + 4) // max(1, m - 1)
    return count * (per_element + upper_links)


class VectorIndex:
    """Chunk vectors of one project, keyed by file; thread-safe."""

    def __init__(
        self,
        dim: int,
        embedder_name: str,
        capacity: int = _INITIAL_CAPACITY,
        hnsw_threshold: int = HNSW_THRESHOLD,
    ) -> None:
        self.dim = int(dim)
        self.embedder_name = embedder_name
        self.hnsw_threshold = int(hnsw_threshold)
        self._lock = threading.RLock()
        capacity = max(16, int(capacity))
        self._vectors = np.zeros((capacity, self.dim), dtype=np.int8)
        self._scales = np.ones(capacity, dtype=np.float32)
        self._path_ids = np.full(capacity, -1, dtype=np.int32)
        self._starts = np.zeros(capacity, dtype=np.int32)
        self._ends = np.zeros(capacity, dtype=np.int32)
        self._size = 0  # rows used (live and dead)
        self._live = 0
        self._paths: list[str | None] = []
        self._path_ids_by_name: dict[str, int] = {}
        self._rows_of: dict[int, tuple[int, int]] = {}  # path id -> (first row, row count)
        self._free_path_ids: list[int] = []
        self._hnsw: hnswlib.Index | None = None
        # Asked for the graph's bytes before it is built (None: no budget to ask, as in tests);
        # refused, queries stay exact (slower, never over the budget) until the index changes.
        self.graph_reserver: Callable[[int], Grant | None] | None = None
        self._graph_refused_at: int | None = None
        # The graph is built on a thread while queries stay exact; a compaction renumbers rows
        # (bumping the generation), which makes a graph being built useless.
        self._graph_builder: threading.Thread | None = None
        self._graph_stop = threading.Event()
        self._generation = 0
        # One save at a time: each removes the sets saved before it.
        self._save_lock = threading.Lock()

    # -- updates ----------------------------------------------------------------------------

    def replace_file(self, path: str, spans: list[tuple[int, int]], vectors: np.ndarray) -> None:
        """Make `spans` (with their `vectors`) the chunks of `path`, dropping the old ones."""
        with self._lock:
            self.remove_file(path)
            count = len(spans)
            if not count:
                return
            vectors = np.asarray(vectors, dtype=np.float32).reshape(count, self.dim)
            self._ensure_capacity(count)
            path_id = self._path_id(path)
            first = self._size
            rows = slice(first, first + count)
            self._vectors[rows], self._scales[rows] = _quantised(vectors)
            self._path_ids[rows] = path_id
            spans_array = np.asarray(spans, dtype=np.int32).reshape(count, 2)
            self._starts[rows] = spans_array[:, 0]
            self._ends[rows] = spans_array[:, 1]
            self._rows_of[path_id] = (first, count)
            self._size += count
            self._live += count
            if self._hnsw is not None:
                self._hnsw_add(first, first + count)

    def remove_file(self, path: str) -> int:
        """Drop every chunk of `path`; returns how many there were."""
        with self._lock:
            path_id = self._path_ids_by_name.pop(path, None)
            if path_id is None:
                return 0
            first, count = self._rows_of.pop(path_id, (0, 0))
            self._path_ids[first : first + count] = -1
            if self._hnsw is not None:
                for row in range(first, first + count):
                    self._hnsw.mark_deleted(row)
            self._paths[path_id] = None
            self._free_path_ids.append(path_id)
            self._live -= count
            return count

    def trim_capacity(self, headroom: float = 0.1) -> None:
        """Drop dead rows and shrink the arrays to the live rows plus `headroom`."""
        with self._lock:
            self._compact(max(_INITIAL_CAPACITY, int(self._live * (1.0 + headroom))))

    def _path_id(self, path: str) -> int:
        interned = sys.intern(path)
        if self._free_path_ids:
            path_id = self._free_path_ids.pop()
            self._paths[path_id] = interned
        else:
            path_id = len(self._paths)
            self._paths.append(interned)
        self._path_ids_by_name[interned] = path_id
        return path_id

    def growth_bytes(self, extra_rows: int) -> int:
        """Bytes that adding `extra_rows` makes resident on top of what is held.

        Within the capacity, only the rows written. Past it, the arrays grow by
        `_GROWTH_FACTOR` and all of the new part is counted: `ndarray.resize` zero-fills it,
        which makes every page of it resident at once (measured: +97 MB of RSS for a 97 MB
        table doubled)."""
        row_bytes = self.dim + ROW_EXTRA_BYTES
        with self._lock:
            capacity = len(self._path_ids)
            if self._size + extra_rows <= capacity:
                return extra_rows * row_bytes
            return (self._grown_capacity(extra_rows) - self._size) * row_bytes

    def _grown_capacity(self, count: int) -> int:
        capacity = len(self._path_ids)
        return max(self._size + count, int(capacity * _GROWTH_FACTOR))

    def _ensure_capacity(self, count: int) -> None:
        capacity = len(self._path_ids)
        if self._size + count <= capacity:
            return
        if self._size - self._live > self._size // 4:
            self._compact(capacity)  # reclaim dead rows before growing
            if self._size + count <= len(self._path_ids):
                return
        self._resize(self._grown_capacity(count))

    def _resize(self, capacity: int) -> None:
        """Grow or shrink the arrays in place (realloc: large blocks are remapped, not
        copied beside the old ones); rows past the live ones read as empty."""
        size = self._size
        self._vectors.resize((capacity, self.dim), refcheck=False)
        for name in ("_scales", "_path_ids", "_starts", "_ends"):
            getattr(self, name).resize(capacity, refcheck=False)
        self._path_ids[size:] = -1
        if self._hnsw is not None and capacity > self._hnsw.get_max_elements():
            self._hnsw.resize_index(capacity)

    def _compact(self, capacity: int) -> None:
        """Keep only live rows (in order), re-numbering rows; the hnswlib graph is dropped.

        Rows move down in place a block at a time (a live row's new place is never after
        its old one), so only one block is ever copied aside."""
        live = np.flatnonzero(self._path_ids[: self._size] >= 0)
        count = len(live)
        if count < self._size:
            for start in range(0, count, _SAVE_BLOCK_ROWS):
                rows = live[start : start + _SAVE_BLOCK_ROWS]
                stop = start + len(rows)
                self._vectors[start:stop] = self._vectors[rows]
                self._scales[start:stop] = self._scales[rows]
                self._path_ids[start:stop] = self._path_ids[rows]
                self._starts[start:stop] = self._starts[rows]
                self._ends[start:stop] = self._ends[rows]
        self._size = self._live = count
        self._hnsw = None
        self._generation += 1
        self._resize(max(capacity, count, 16))
        self._rows_of = _rows_by_path(self._path_ids[: self._size])

    # -- queries ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._live

    def paths(self) -> list[str]:
        """Files that have chunks in the index."""
        with self._lock:
            return list(self._path_ids_by_name)

    @property
    def uses_hnsw(self) -> bool:
        """Whether queries go through hnswlib (the index is above `hnsw_threshold`)."""
        return self._live > self.hnsw_threshold

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, int, int, float]]:
        """Up to `k` nearest chunks as (path, start, end, cosine similarity), best first."""
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vector))
        with self._lock:
            k = min(int(k), self._live)
            if k <= 0 or norm == 0.0 or vector.shape[0] != self.dim:
                return []
            vector = vector / norm
            if self.uses_hnsw and self._graph_ready():
                rows, sims = self._query_hnsw(vector, k)
            else:
                rows, sims = self.exact_rows(vector, k)
            results = []
            for row, similarity in zip(rows.tolist(), sims.tolist(), strict=True):
                path_id = int(self._path_ids[row])
                if path_id >= 0:
                    results.append(
                        (
                            self._paths[path_id],
                            int(self._starts[row]),
                            int(self._ends[row]),
                            float(similarity),
                        )
                    )
            return results

    def exact_rows(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k rows by cosine (vectors are unit length) and their similarities.

        Scored a block of rows at a time, keeping the best k so far: the working memory is
        one block (`_EXACT_BLOCK_ROWS` rows as float32) whatever the index's size (a score
        per row, and argpartition's int64 copy of it, were 45 MB for the kernel's 876k
        rows, per concurrent query)."""
        with self._lock:
            size = self._size
            k = min(int(k), size)
            if k <= 0:
                return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
            block = np.empty((min(size, _EXACT_BLOCK_ROWS), self.dim), dtype=np.float32)
            block_sims = np.empty(len(block), dtype=np.float32)
            best_rows = np.empty(0, dtype=np.int64)
            best_sims = np.empty(0, dtype=np.float32)
            for first in range(0, size, _EXACT_BLOCK_ROWS):
                rows = self._vectors[first : first + _EXACT_BLOCK_ROWS][: size - first]
                count = len(rows)
                np.copyto(block[:count], rows)
                sims = block_sims[:count]
                np.matmul(block[:count], vector, out=sims)
                sims *= self._scales[first : first + count]
                sims[self._path_ids[first : first + count] < 0] = -np.inf
                top = np.argpartition(sims, count - k)[count - k :] if count > k else None
                candidates = np.arange(count) if top is None else top
                best_rows = np.concatenate([best_rows, candidates + first])
                best_sims = np.concatenate([best_sims, sims[candidates]])
                if len(best_rows) > k:
                    keep = np.argpartition(best_sims, len(best_sims) - k)[len(best_sims) - k :]
                    best_rows, best_sims = best_rows[keep], best_sims[keep]
            order = np.lexsort((best_rows, -best_sims))  # best first; ties by row
            order = order[np.isfinite(best_sims[order])]
            return best_rows[order], best_sims[order]

    def _graph_ready(self) -> bool:
        """Whether the hnswlib graph is built. If not, and its bytes are granted, it starts
        being built on a thread (this query and the next ones are answered exactly until it
        is done: building takes minutes at a million rows)."""
        if self._hnsw is not None:
            return True
        if self._graph_builder is not None or self._graph_refused_at == self._live:
            return False
        grant = None
        if self.graph_reserver is not None:
            grant = self.graph_reserver(hnsw_bytes_estimate(len(self._path_ids), self.dim))
            if grant is None:
                self._graph_refused_at = self._live
                return False
        self._graph_stop.clear()
        self._graph_builder = threading.Thread(
            target=self._build_graph, args=(grant,), name="leindex-vector-graph", daemon=True
        )
        self._graph_builder.start()
        return False

    @property
    def graph_building(self) -> bool:
        """Whether an hnswlib graph is being built (queries are exact meanwhile)."""
        return self._graph_builder is not None

    def wait_for_graph(self, timeout: float | None = None) -> bool:
        """Wait for a graph being built; True if one is in use now."""
        builder = self._graph_builder
        if builder is not None:
            builder.join(timeout)
        return self._hnsw is not None

    def stop_graph_build(self) -> None:
        """Abandon a graph being built (the index is being dropped); returns at once."""
        self._graph_stop.set()

    def _build_graph(self, grant: Grant | None) -> None:
        """Add the rows to a new graph a block at a time, taking the lock only to copy each
        block (hnswlib adds them on 2 native threads, without the GIL); then, under the lock,
        add the rows appended meanwhile, drop the ones removed, and put the graph in use."""
        try:
            with self._lock:
                generation, stop = self._generation, self._size
                capacity = len(self._path_ids)
            index = hnswlib.Index(space="ip", dim=self.dim)
            index.init_index(
                max_elements=max(16, capacity), M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION
            )
            index.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
            added = np.zeros(stop, dtype=bool)
            for start in range(0, stop, _EXACT_BLOCK_ROWS):
                with self._lock:
                    if self._graph_stop.is_set() or self._generation != generation:
                        return
                    rows = self._live_rows(start, min(stop, start + _EXACT_BLOCK_ROWS))
                    vectors = self._float_rows(rows)
                if len(rows):
                    index.add_items(vectors, rows)
                    added[rows] = True
            with self._lock:
                if self._graph_stop.is_set() or self._generation != generation:
                    return
                if len(self._path_ids) > index.get_max_elements():
                    index.resize_index(len(self._path_ids))
                for row in np.flatnonzero(added & (self._path_ids[:stop] < 0)).tolist():
                    index.mark_deleted(row)
                self._hnsw = index
                self._hnsw_add(stop, self._size)
        except Exception:  # out of memory in hnswlib, say: queries stay exact
            log.exception("the vector graph could not be built; semantic search stays exact")
            with self._lock:
                self._graph_refused_at = self._live
        finally:
            if grant is not None:
                grant.release()  # built: RSS holds it now (or it was dropped)
            with self._lock:
                self._graph_builder = None

    def _query_hnsw(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        index = self._hnsw
        index.set_ef(max(HNSW_EF_SEARCH, 2 * k))
        while k > 0:
            try:
                labels, distances = index.knn_query(vector, k=k)
                return labels[0].astype(np.int64), 1.0 - distances[0]
            except RuntimeError:
                k //= 2  # too few reachable live elements for k
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)

    def _live_rows(self, first: int, stop: int) -> np.ndarray:
        rows = np.arange(first, stop)
        return rows[self._path_ids[first:stop] >= 0]

    def _hnsw_add(self, first: int, stop: int) -> None:
        for start in range(first, stop, _EXACT_BLOCK_ROWS):
            rows = self._live_rows(start, min(stop, start + _EXACT_BLOCK_ROWS))
            if len(rows):
                self._hnsw.add_items(self._float_rows(rows), rows)

    def _float_rows(self, rows: np.ndarray) -> np.ndarray:
        """These rows as float32 vectors (scaled back)."""
        return self._vectors[rows].astype(np.float32) * self._scales[rows, None]

    def memory_bytes(self) -> int:
        """Bytes held: the arrays' `nbytes` and the path table measured, plus the hnswlib graph
        (estimated from its layout) when one is built."""
        with self._lock:
            arrays = (
                self._vectors.nbytes
                + self._scales.nbytes
                + self._path_ids.nbytes
                + self._starts.nbytes
                + self._ends.nbytes
            )
            table = sys.getsizeof(self._paths) + sys.getsizeof(self._path_ids_by_name)
            table += sys.getsizeof(self._rows_of) + len(self._rows_of) * 72
            table += sum(sys.getsizeof(path) for path in self._paths if path is not None)
            graph = 0
            if self._hnsw is not None:
                graph = hnsw_bytes_estimate(self._hnsw.get_max_elements(), self.dim)
            return arrays + table + graph

    @property
    def memory_bytes_estimated(self) -> bool:
        """True when `memory_bytes` includes the (estimated) hnswlib graph."""
        return self._hnsw is not None

    # -- persistence ------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the three arrays (live rows only) as a new set, then the sidecar naming them
        with their hashes, then remove the set it replaced.

        The sidecar's replacement is the one moment the new set becomes current: a kill at any
        point leaves the previous set or the new one whole, never a mix of the two (which
        would fail its hashes and be rebuilt)."""
        directory = ensure_private_dir(Path(directory))
        with self._save_lock:
            self._save(directory)

    def _save(self, directory: Path) -> None:
        tag = secrets.token_hex(8)
        names = {key: f"vectors.{tag}.{suffix}.npy" for key, suffix in _ARRAY_SUFFIXES.items()}
        with self._lock:
            live = np.flatnonzero(self._path_ids[: self._size] >= 0)
            old_ids = self._path_ids[live]
            used = np.unique(old_ids)
            remap = np.full(max(1, len(self._paths)), -1, dtype=np.int32)
            remap[used] = np.arange(len(used), dtype=np.int32)
            chunks = np.stack([remap[old_ids], self._starts[live], self._ends[live]], axis=1)
            chunk_bytes = _npy_bytes(chunks.astype(np.int32))
            paths = [self._paths[path_id] for path_id in used.tolist()]
            # Written in blocks of rows: the matrix is never copied whole.
            vectors_sha256 = _write_rows(directory / names["vectors"], self._vectors, live)
            scale_bytes = _npy_bytes(self._scales[live])
        atomic_write_bytes(directory / names["scales"], scale_bytes)
        atomic_write_bytes(directory / names["chunks"], chunk_bytes)
        meta = {
            "version": _META_VERSION,
            "embedder": self.embedder_name,
            "dim": self.dim,
            "count": int(len(live)),
            "vectors_sha256": vectors_sha256,
            "scales_sha256": hashlib.sha256(scale_bytes).hexdigest(),
            "chunks_sha256": hashlib.sha256(chunk_bytes).hexdigest(),
            "paths": paths,
            "files": names,
        }
        atomic_write_text(directory / VECTORS_META_FILE, json.dumps(meta, separators=(",", ":")))
        current = set(names.values())
        for path in directory.iterdir():
            replaced = _TAGGED_NAME.fullmatch(path.name) and path.name not in current
            if replaced or path.name in (*_FIXED_NAMES.values(), *LEGACY_FILES, *_REPLACED_FILES):
                path.unlink(missing_ok=True)

    @staticmethod
    def saved_files(directory: Path) -> dict[str, Path]:
        """The current saved set's files ("vectors", "scales", "chunks"), named by its
        sidecar; raises `VectorIndexError` if there is no readable sidecar."""
        meta = _read_meta(Path(directory) / VECTORS_META_FILE)
        return {key: Path(directory) / name for key, name in meta["files"].items()}

    @staticmethod
    def saved_count(directory: Path) -> int | None:
        """Chunks in the saved index (from the sidecar only), or None if there is none."""
        try:
            meta = _read_meta(Path(directory) / VECTORS_META_FILE)
        except VectorIndexError:
            return None
        return meta["count"]

    @staticmethod
    def load_bytes_estimate(count: int, dim: int, n_paths: int = 0) -> int:
        """Bytes a loaded index of `count` chunks will hold (what to reserve before loading);
        an hnswlib graph is reserved on its own, when one is built."""
        capacity = max(_INITIAL_CAPACITY, int(count * 1.1))
        arrays = capacity * (dim + ROW_EXTRA_BYTES)
        return arrays + n_paths * 200 + count * 16  # + transient int arrays

    @classmethod
    def load(
        cls,
        directory: Path,
        dim: int,
        embedder_name: str,
        hnsw_threshold: int = HNSW_THRESHOLD,
    ) -> VectorIndex:
        """Load a saved index; raises `VectorIndexError` on any mismatch or damage (a legacy or
        damaged file is set aside first, so the rebuilt index replaces it)."""
        directory = Path(directory)
        meta_path = directory / VECTORS_META_FILE
        legacy = [directory / name for name in LEGACY_FILES if (directory / name).exists()]
        if legacy and not meta_path.exists():
            for path in legacy:
                set_aside(path, "legacy")
            raise VectorIndexError(f"{directory}: a version 1 vector index: rebuilt compactly")
        meta = _read_meta(meta_path)
        if meta["embedder"] != embedder_name or meta["dim"] != dim:
            raise VectorIndexError(
                f"{directory}: saved for embedder {meta['embedder']!r} (dim {meta['dim']}), "
                f"not {embedder_name!r} (dim {dim})"
            )
        count = meta["count"]
        capacity = max(_INITIAL_CAPACITY, int(count * 1.1))
        files = {key: directory / name for key, name in meta["files"].items()}
        try:
            scales = _read_array(files["scales"], meta["scales_sha256"], capacity, (count,))
            if scales.dtype != np.float32:
                raise VectorIndexError(f"{directory}: vector scales are not float32")
            scales[count:] = 1.0
            # Read straight into an array with room to grow: no second copy while loading.
            vectors = _read_array(files["vectors"], meta["vectors_sha256"], capacity, (count, dim))
            chunks = _read_array(files["chunks"], meta["chunks_sha256"])
            n_paths = len(meta["paths"])
            if (
                vectors.shape != (capacity, dim)
                or vectors.dtype != np.int8
                or chunks.dtype != np.int32
                or chunks.shape != (count, 3)
                or (count and (chunks[:, 0].min() < 0 or chunks[:, 0].max() >= n_paths))
            ):
                raise VectorIndexError(f"{directory}: vector arrays do not match their sidecar")
        except VectorIndexError:
            for path in (meta_path, *files.values()):
                if path.exists():
                    set_aside(path, "corrupt")
            raise
        self = cls(dim, embedder_name, capacity=16)
        self.hnsw_threshold = int(hnsw_threshold)
        self._vectors = vectors
        self._scales = scales
        self._path_ids = np.full(capacity, -1, dtype=np.int32)
        self._starts = np.zeros(capacity, dtype=np.int32)
        self._ends = np.zeros(capacity, dtype=np.int32)
        self._path_ids[:count] = chunks[:, 0]
        self._starts[:count] = chunks[:, 1]
        self._ends[:count] = chunks[:, 2]
        self._size = self._live = count
        self._paths = [sys.intern(path) for path in meta["paths"]]
        self._path_ids_by_name = {path: number for number, path in enumerate(self._paths)}
        self._rows_of = _rows_by_path(self._path_ids[:count])
        if len(self._rows_of) != n_paths or len(self._path_ids_by_name) != n_paths:
            raise VectorIndexError(f"{directory}: a file's chunks are not contiguous")
        return self


def _rows_by_path(path_ids: np.ndarray) -> dict[int, tuple[int, int]]:
    """path id -> (first row, count) for rows where each path's chunks are contiguous."""
    if not len(path_ids):
        return {}
    edges = np.flatnonzero(np.diff(path_ids)) + 1
    firsts = np.concatenate([[0], edges])
    counts = np.diff(np.concatenate([firsts, [len(path_ids)]]))
    return {
        int(path_ids[first]): (int(first), int(count))
        for first, count in zip(firsts.tolist(), counts.tolist(), strict=True)
    }


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _quantised(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 rows as int8 rows and their scales (largest magnitude / 127; 1 for a zero row)."""
    peak = np.abs(vectors).max(axis=1)
    scales = np.where(peak > 0, peak / _INT8_STEPS, 1.0).astype(np.float32)
    return np.rint(vectors / scales[:, None]).astype(np.int8), scales


def _write_rows(path: Path, matrix: np.ndarray, rows: np.ndarray) -> str:
    """Write `matrix[rows]` as an .npy file, a block of rows at a time; returns its sha256."""
    digest = hashlib.sha256()
    header = {
        "descr": np.lib.format.dtype_to_descr(matrix.dtype),
        "fortran_order": False,
        "shape": (len(rows), matrix.shape[1]),
    }

    def write(handle: BinaryIO) -> None:
        hashing = _HashingWriter(handle, digest)
        np.lib.format.write_array_header_1_0(hashing, header)
        for start in range(0, len(rows), _SAVE_BLOCK_ROWS):
            block = matrix[rows[start : start + _SAVE_BLOCK_ROWS]]
            hashing.write(np.ascontiguousarray(block).data)

    atomic_write_stream(path, write)
    return digest.hexdigest()


@contextlib.contextmanager
def _verified_npy(path: Path, sha256: str) -> Iterator[tuple[BinaryIO, tuple[int, ...], np.dtype]]:
    """The open .npy file at `path` after its hash matched `sha256`, positioned after its
    header, with the header's shape and dtype; any read or format error inside the block is
    a `VectorIndexError`."""
    try:
        with open(path, "rb") as handle:
            _check_sha256(handle, path, sha256)
            shape, dtype = _npy_header(handle)
            yield handle, shape, dtype
    except OSError as error:
        raise VectorIndexError(f"{path}: cannot be read: {error}") from None
    except (ValueError, EOFError, TypeError) as error:
        raise VectorIndexError(f"{path}: not a numpy array: {error}") from None


def _check_sha256(handle: BinaryIO, path: Path, sha256: str) -> None:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    if digest.hexdigest() != sha256:
        raise VectorIndexError(f"{path}: sha256 does not match {VECTORS_META_FILE}")
    handle.seek(0)


def _npy_header(handle: BinaryIO) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        header = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        header = np.lib.format.read_array_header_2_0(handle)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    shape, fortran_order, dtype = header
    if dtype.hasobject or fortran_order:
        raise ValueError("object or Fortran-ordered arrays are not accepted")
    return shape, dtype


class _HashingWriter:
    """A file handle that also feeds what is written to a hash."""

    def __init__(self, handle: BinaryIO, digest: hashlib._Hash) -> None:
        self._handle = handle
        self._digest = digest

    def write(self, data: bytes | memoryview) -> int:
        self._digest.update(data)
        return self._handle.write(data)


def _read_array(
    path: Path, sha256: str, rows: int | None = None, shape_saved: tuple[int, ...] | None = None
) -> np.ndarray:
    """The .npy array at `path`, checked against `sha256` (hashed a block at a time) before
    it is parsed, then read straight into its buffer (one allocation). With `rows`, the
    array has that many rows (at least the file's), the ones past the file's left empty.
    With `shape_saved`, the file's array must have that shape."""
    with _verified_npy(path, sha256) as (handle, shape, dtype):
        if shape_saved is not None and shape != shape_saved:
            raise VectorIndexError(f"{path}: an array of {shape}, not {shape_saved}")
        if rows is not None and shape and rows > shape[0]:
            array = np.zeros((rows, *shape[1:]), dtype=dtype)
            filled = array[: shape[0]]
        else:
            array = filled = np.empty(shape, dtype=dtype)
        view = memoryview(filled).cast("B") if filled.size else memoryview(bytearray())
        if handle.readinto(view) != len(view) or handle.read(1):
            raise ValueError("the file's length does not match its header")
    return array


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise VectorIndexError(f"{path}: cannot be read: {error}") from None
    expected = {
        "version": int,
        "embedder": str,
        "dim": int,
        "count": int,
        "vectors_sha256": str,
        "scales_sha256": str,
        "chunks_sha256": str,
        "paths": list,
    }
    if not isinstance(meta, dict) or meta.get("version") not in _READABLE_META_VERSIONS:
        raise VectorIndexError(f"{path}: not a vector sidecar of version 3 or 4")
    for key, kind in expected.items():
        value = meta.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise VectorIndexError(f"{path}: key {key!r} is missing or of the wrong type")
    if meta["count"] < 0 or not all(isinstance(p, str) for p in meta["paths"]):
        raise VectorIndexError(f"{path}: key 'count' or 'paths' holds a wrong value")
    if meta["version"] == 3:
        meta["files"] = dict(_FIXED_NAMES)
    files = meta.get("files")
    # Names only, of this directory's sets: a sidecar cannot point anywhere else.
    if (
        not isinstance(files, dict)
        or set(files) != set(_ARRAY_SUFFIXES)
        or not all(isinstance(name, str) for name in files.values())
        or not all(
            name == _FIXED_NAMES[key]
            or (_TAGGED_NAME.fullmatch(name) and name.endswith(f".{_ARRAY_SUFFIXES[key]}.npy"))
            for key, name in files.items()
        )
    ):
        raise VectorIndexError(f"{path}: key 'files' is missing or names files it may not")
    return meta
