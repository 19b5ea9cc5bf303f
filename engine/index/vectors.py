"""The semantic index: float16 chunk vectors in one numpy array, searched exactly, with an
hnswlib graph only above `HNSW_THRESHOLD` live chunks.

Memory layout (no per-chunk Python objects): a (capacity, dim) float16 matrix, three int32
arrays (path id, first line, last line) and a path table (one str per *file*). A file's chunks
are contiguous rows; replacing a file marks its old rows dead (path id -1) and appends. Dead
rows are compacted away by `trim_capacity` and on save.

On disk: `vectors.i8.npy` (the live rows as int8, each row scaled by its largest component),
`vectors.scale.npy` (float32, one scale per row), `vectors.chunks.npy` (int32, N x 3) and the
sidecar `vectors.meta.json` (embedder, dim, count, the path list once, the sha256 of the three
arrays). int8 halves the float16 file (the kernel: 449 -> 228 MB); a row is read back into the
float16 table within half a step of 1/127 of its largest component (cosine error below 1e-3).
No pickle: arrays are read with `allow_pickle=False` after their hash is checked. The sidecar of
the first version (`vectors.json`, every path repeated per chunk) and its `vectors.hnsw` are set
aside when met, and the caller rebuilds; so is a float16 file of version 2 (rebuilt in the
background by the caller, as any vector index that does not load).

The hnswlib graph is not saved: it is rebuilt (both cores, native code) on the first query of an
index big enough to need it. Measurements and reasoning: docs/memory.md, "Vector store".
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
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

VECTORS_FILE = "vectors.i8.npy"
SCALES_FILE = "vectors.scale.npy"
CHUNKS_FILE = "vectors.chunks.npy"
VECTORS_META_FILE = "vectors.meta.json"
LEGACY_FILES = ("vectors.json", "vectors.hnsw")
# Version 2's float16 rows: removed when a version 3 index is saved over it.
_REPLACED_FILES = ("vectors.f16.npy",)
_META_VERSION = 3
_INT8_STEPS = 127.0
_INITIAL_CAPACITY = 1024
# Past its capacity the table grows by this factor (each step is reserved whole: see
# `growth_bytes`); smaller steps leave less unused near the budget's edge.
_GROWTH_FACTOR = 1.5
# Rows written per block when saving (1 MB at 256 float16 dimensions).
_SAVE_BLOCK_ROWS = 2048
# Exact search costs ~N*dim multiply-adds per query (~0.1 s at 400k x 256 on this machine):
# below this many live chunks it is fast enough and always right. Above it, hnswlib.
HNSW_THRESHOLD = 400_000
# hnswlib parameters tuned for recall@10 >= 0.99 against exact search (tests/unit).
HNSW_M = 24
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 256
# Rows scored per block in exact search: 8192 x 256 float32 = 8 MB of working memory.
_EXACT_BLOCK_ROWS = 8_192


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
        self._vectors = np.zeros((capacity, self.dim), dtype=np.float16)
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
            self._vectors[rows] = vectors
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
        float16 table doubled)."""
        row_bytes = self.dim * 2 + 12
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
        for name in ("_path_ids", "_starts", "_ends"):
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
                self._path_ids[start:stop] = self._path_ids[rows]
                self._starts[start:stop] = self._starts[rows]
                self._ends[start:stop] = self._ends[rows]
        self._size = self._live = count
        self._hnsw = None
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
        """Exact top-k rows by cosine (vectors are unit length) and their similarities."""
        with self._lock:
            size = self._size
            sims = np.empty(size, dtype=np.float32)
            for first in range(0, size, _EXACT_BLOCK_ROWS):
                block = self._vectors[first : first + _EXACT_BLOCK_ROWS][: size - first]
                sims[first : first + len(block)] = block.astype(np.float32) @ vector
            sims[self._path_ids[:size] < 0] = -np.inf
            k = min(k, size)
            top = np.argpartition(-sims, k - 1)[:k] if k < size else np.arange(size)
            top = top[np.argsort(-sims[top], kind="stable")]
            top = top[np.isfinite(sims[top])]
            return top, sims[top]

    def _graph_ready(self) -> bool:
        """Whether the hnswlib graph is built, building it if its bytes are granted."""
        if self._hnsw is not None:
            return True
        if self._graph_refused_at == self._live:
            return False
        grant = None
        if self.graph_reserver is not None:
            grant = self.graph_reserver(hnsw_bytes_estimate(len(self._path_ids), self.dim))
            if grant is None:
                self._graph_refused_at = self._live
                return False
        try:
            self._build_hnsw()
        finally:
            if grant is not None:
                grant.release()  # built: RSS holds it now
        return True

    def _query_hnsw(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._hnsw is None:
            self._build_hnsw()
        index = self._hnsw
        index.set_ef(max(HNSW_EF_SEARCH, 2 * k))
        while k > 0:
            try:
                labels, distances = index.knn_query(vector, k=k)
                return labels[0].astype(np.int64), 1.0 - distances[0]
            except RuntimeError:
                k //= 2  # too few reachable live elements for k
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)

    def _build_hnsw(self) -> None:
        index = hnswlib.Index(space="ip", dim=self.dim)
        index.init_index(
            max_elements=max(16, len(self._path_ids)),
            M=HNSW_M,
            ef_construction=HNSW_EF_CONSTRUCTION,
        )
        index.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
        self._hnsw = index
        self._hnsw_add(0, self._size)

    def _hnsw_add(self, first: int, stop: int) -> None:
        for start in range(first, stop, _EXACT_BLOCK_ROWS):
            end = min(stop, start + _EXACT_BLOCK_ROWS)
            rows = np.arange(start, end)
            rows = rows[self._path_ids[start:end] >= 0]
            if len(rows):
                self._hnsw.add_items(self._vectors[rows].astype(np.float32), rows)

    def memory_bytes(self) -> int:
        """Bytes held: the arrays' `nbytes` and the path table measured, plus the hnswlib graph
        (estimated from its layout) when one is built."""
        with self._lock:
            arrays = (
                self._vectors.nbytes
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
        """Write the two arrays (live rows only) then the sidecar with their hashes."""
        directory = ensure_private_dir(Path(directory))
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
            vectors_sha256, scales = _write_rows(directory / VECTORS_FILE, self._vectors, live)
        scale_bytes = _npy_bytes(scales)
        atomic_write_bytes(directory / SCALES_FILE, scale_bytes)
        atomic_write_bytes(directory / CHUNKS_FILE, chunk_bytes)
        meta = {
            "version": _META_VERSION,
            "embedder": self.embedder_name,
            "dim": self.dim,
            "count": int(len(live)),
            "vectors_sha256": vectors_sha256,
            "scales_sha256": hashlib.sha256(scale_bytes).hexdigest(),
            "chunks_sha256": hashlib.sha256(chunk_bytes).hexdigest(),
            "paths": paths,
        }
        atomic_write_text(directory / VECTORS_META_FILE, json.dumps(meta, separators=(",", ":")))
        for legacy in (*LEGACY_FILES, *_REPLACED_FILES):
            (directory / legacy).unlink(missing_ok=True)

    @staticmethod
    def saved_count(directory: Path) -> int | None:
        """Chunks in the saved index (from the sidecar only), or None if there is none."""
        try:
            meta = _read_meta(Path(directory) / VECTORS_META_FILE)
        except VectorIndexError:
            return None
        return meta["count"]

    @staticmethod
    def load_bytes_estimate(
        count: int, dim: int, hnsw_threshold: int = HNSW_THRESHOLD, n_paths: int = 0
    ) -> int:
        """Bytes a loaded index of `count` chunks will hold (what to reserve before loading)."""
        capacity = max(_INITIAL_CAPACITY, int(count * 1.1))
        arrays = capacity * (dim * 2 + 12)
        graph = hnsw_bytes_estimate(capacity, dim) if count > hnsw_threshold else 0
        return arrays + graph + n_paths * 200 + count * 16  # + transient int arrays

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
        try:
            scales = _read_array(directory / SCALES_FILE, meta["scales_sha256"])
            if scales.dtype != np.float32 or scales.shape != (count,):
                raise VectorIndexError(f"{directory}: vector scales do not match their sidecar")
            # Read a block at a time into a float16 array with room to grow: no int8 copy of
            # the whole file is held while loading.
            vectors = _read_int8_rows(
                directory / VECTORS_FILE, meta["vectors_sha256"], scales, capacity, dim
            )
            chunks = _read_array(directory / CHUNKS_FILE, meta["chunks_sha256"])
            n_paths = len(meta["paths"])
            if (
                vectors.shape != (capacity, dim)
                or chunks.dtype != np.int32
                or chunks.shape != (count, 3)
                or (count and (chunks[:, 0].min() < 0 or chunks[:, 0].max() >= n_paths))
            ):
                raise VectorIndexError(f"{directory}: vector arrays do not match their sidecar")
        except VectorIndexError:
            for name in (VECTORS_META_FILE, VECTORS_FILE, SCALES_FILE, CHUNKS_FILE):
                if (directory / name).exists():
                    set_aside(directory / name, "corrupt")
            raise
        self = cls(dim, embedder_name, capacity=16)
        self.hnsw_threshold = int(hnsw_threshold)
        self._vectors = vectors
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


def _write_rows(path: Path, matrix: np.ndarray, rows: np.ndarray) -> tuple[str, np.ndarray]:
    """Write `matrix[rows]` as an int8 .npy file, a block of rows at a time, each row divided
    by its scale (largest magnitude / 127); returns the file's sha256 and the scales."""
    digest = hashlib.sha256()
    scales = np.ones(len(rows), dtype=np.float32)
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.int8)),
        "fortran_order": False,
        "shape": (len(rows), matrix.shape[1]),
    }

    def write(handle: BinaryIO) -> None:
        hashing = _HashingWriter(handle, digest)
        np.lib.format.write_array_header_1_0(hashing, header)
        for start in range(0, len(rows), _SAVE_BLOCK_ROWS):
            block = matrix[rows[start : start + _SAVE_BLOCK_ROWS]].astype(np.float32)
            peak = np.abs(block).max(axis=1)
            scale = np.where(peak > 0, peak / _INT8_STEPS, 1.0).astype(np.float32)
            scales[start : start + len(block)] = scale
            quantised = np.rint(block / scale[:, None]).astype(np.int8)
            hashing.write(np.ascontiguousarray(quantised).data)

    atomic_write_stream(path, write)
    return digest.hexdigest(), scales


def _read_int8_rows(path: Path, sha256: str, scales: np.ndarray, rows: int, dim: int) -> np.ndarray:
    """The int8 rows at `path` (checked against `sha256` first) times their `scales`, as a
    float16 array of `rows` rows (the ones past the file's left empty)."""
    with _verified_npy(path, sha256) as (handle, shape, dtype):
        if dtype != np.int8 or len(shape) != 2 or shape != (len(scales), dim):
            raise VectorIndexError(f"{path}: not an int8 array of {len(scales)} x {dim}")
        array = np.zeros((max(rows, shape[0]), dim), dtype=np.float16)
        block = np.empty((_SAVE_BLOCK_ROWS, dim), dtype=np.int8)
        for start in range(0, shape[0], _SAVE_BLOCK_ROWS):
            part = block[: min(_SAVE_BLOCK_ROWS, shape[0] - start)]
            view = memoryview(part).cast("B") if part.size else memoryview(bytearray())
            if handle.readinto(view) != len(view):
                raise ValueError("the file is shorter than its header says")
            scale = scales[start : start + len(part), None]
            array[start : start + len(part)] = part * scale
        if handle.read(1):
            raise ValueError("the file is longer than its header says")
    return array


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


def _read_array(path: Path, sha256: str, rows: int | None = None) -> np.ndarray:
    """The .npy array at `path`, checked against `sha256` (hashed a block at a time) before
    it is parsed, then read straight into its buffer (one allocation). With `rows`, the
    array has that many rows (at least the file's), the ones past the file's left empty."""
    with _verified_npy(path, sha256) as (handle, shape, dtype):
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
    if not isinstance(meta, dict) or meta.get("version") != _META_VERSION:
        raise VectorIndexError(f"{path}: not a version {_META_VERSION} vector sidecar")
    for key, kind in expected.items():
        value = meta.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise VectorIndexError(f"{path}: key {key!r} is missing or of the wrong type")
    if meta["count"] < 0 or not all(isinstance(p, str) for p in meta["paths"]):
        raise VectorIndexError(f"{path}: key 'count' or 'paths' holds a wrong value")
    return meta
