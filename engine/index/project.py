"""A project: one directory of code, its indexes, its caches and what they cost in memory."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import ProjectSettings
from engine.index.analysis import window_pieces
from engine.index.caches import CacheTotals, DropResult, LoadedFileCache, QueryCache
from engine.index.chunker import Chunk
from engine.index.embed import Embedder
from engine.index.fulltext import FullTextIndex
from engine.index.manifest import Manifest
from engine.index.results import IndexProgress
from engine.index.segments import enclosing_classes, file_pieces
from engine.index.walker import IgnoreRules, read_source
from engine.priority import ProjectPriority
from engine.procfs import mapped_rss_by_path

if TYPE_CHECKING:  # loaded (with numpy) by the first semantic search, not at start-up
    from engine.index.vectors import VectorIndex
    from engine.memory.reservations import Grant, Reserver

log = logging.getLogger(__name__)

# The tantivy share of index_bytes comes from an smaps read: cheap enough once a second.
_MAPPED_RSS_TTL_SECONDS = 1.0


class Project:
    """A registered directory; the engine creates it, the indexer fills its indexes."""

    def __init__(
        self,
        name: str,
        path: Path,
        index_dir: Path,
        settings: ProjectSettings,
        totals: CacheTotals,
        embedder: Embedder,
        byte_caps: tuple[int, int],
        clock: Callable[[], float] = time.time,
        exclude: tuple[str, ...] = (),
        excluded_paths: tuple[Path, ...] = (),
    ) -> None:
        self.name = name
        self.path = Path(path)
        self.index_dir = Path(index_dir)
        self.settings = settings
        self.priority_override: ProjectPriority | None = None
        self.embedder = embedder
        self._clock = clock
        self.last_accessed = clock()
        self.ready = threading.Event()
        # Set once the saved index is open and can answer (before it is brought up to date);
        # a project built from scratch is servable only when ready.
        self.servable = threading.Event()
        self.progress = IndexProgress()
        self.rules = IgnoreRules(self.path, exclude, excluded_paths)
        self.exclude = exclude
        self.loaded_files = LoadedFileCache(
            settings.max_loaded_files, byte_caps[0], totals, owner=name
        )
        self.query_cache = QueryCache(settings.max_cached_queries, byte_caps[1], totals, owner=name)
        self.loaded_files.priority = lambda: self.priority
        self.query_cache.priority = lambda: self.priority
        self.skipped: dict[str, int] = {}
        self.lossy_files = 0
        # Guarded by `lock`: the indexer (per batch) and the memory manager change these.
        self.lock = threading.RLock()
        # Held for a whole indexing run (open, sync, watched changes): one run at a time.
        self.indexing_lock = threading.RLock()
        # Set before a close waits for `lock`, so a running indexer stops after its batch.
        self.closing = False
        self.fulltext: FullTextIndex | None = None
        self.manifest: Manifest | None = None
        self._vectors: VectorIndex | None = None
        # The reservation interface (engine.memory.reservations); None: the process's default.
        self.reserver: Reserver | None = None
        self._vector_grant = None
        # Why the last semantic load was refused ("" when it was not).
        self.semantic_note = ""
        # Why the index is incomplete or unsaved (a full disk), shown with each search.
        self.index_note = ""
        self.vectors_dirty = False
        # Files changed while the vector index was unloaded; embedded again when it is loaded.
        self.pending_vector_paths: set[str] = set()
        self.closed = False
        # Bumped whenever indexed content changes, so a search that ran across an update
        # does not cache its (possibly stale) results.
        self.generation = 0
        self._mapped_rss = (0.0, 0)

    # -- identity and priority --------------------------------------------------------------

    @property
    def priority(self) -> ProjectPriority:
        """The runtime override if one was set, else the configured priority."""
        return self.priority_override or self.settings.priority

    def touch(self) -> None:
        """Record an access now (searches and file reads call this)."""
        self.last_accessed = self._clock()

    def set_progress(self, progress: IndexProgress) -> None:
        """Replace the progress snapshot (one reference, read without a lock)."""
        self.progress = progress

    # -- memory accounting ------------------------------------------------------------------

    @property
    def loaded_content_bytes(self) -> int:
        """Bytes of file contents held by the loaded-files cache."""
        return self.loaded_files.bytes

    @property
    def query_cache_bytes(self) -> int:
        """Bytes of results held by the query cache."""
        return self.query_cache.bytes

    @property
    def vector_index_loaded(self) -> bool:
        """Whether the vector index is in memory."""
        return self._vectors is not None

    @property
    def vector_search(self) -> str:
        """How semantic queries are answered now: "exact", "graph" (hnswlib), "exact, graph
        being built", or "" while the vectors are not in memory."""
        vectors = self._vectors
        if vectors is None:
            return ""
        if vectors.graph_building:
            return "exact, graph being built"
        return "graph" if vectors.memory_bytes_estimated else "exact"

    @property
    def vector_bytes(self) -> int:
        """Bytes of the vector index in memory (0 when unloaded)."""
        vectors = self._vectors
        return 0 if vectors is None else vectors.memory_bytes()

    @property
    def fulltext_mapped_bytes(self) -> int:
        """Resident bytes of tantivy's mapped files (smaps, cached for a second)."""
        stamp, value = self._mapped_rss
        now = time.monotonic()
        if now - stamp > _MAPPED_RSS_TTL_SECONDS:
            value = mapped_rss_by_path(str(self.index_dir) + "/") or 0
            self._mapped_rss = (now, value)
        return value

    @property
    def index_bytes(self) -> int:
        """hnswlib in memory plus tantivy's mapped RSS."""
        return self.vector_bytes + self.fulltext_mapped_bytes

    # -- caches -----------------------------------------------------------------------------

    def read_file(self, rel: str) -> str | None:
        """A file's text through the loaded-files cache (None if unreadable or binary)."""
        text = self.loaded_files.get(rel)
        if text is not None:
            return text
        if rel.startswith("/") or ".." in rel.split("/"):
            return None  # only files inside the project
        source = read_source(self.path / rel)
        if source.text is None:
            return None
        self.loaded_files.put(rel, source.text)
        return source.text

    def pieces_to_embed(self, rel: str, text: str, embedder: Embedder | None = None) -> list[Chunk]:
        """The pieces of a file that get a vector each, holding the text the embedder reads:
        the file's path (file names say a lot about what code does), then the code.

        An embedder that reads code as language (`embeds_definitions`: the transformer) gets one
        piece per definition, from the symbol index (written with the full-text index, before
        the file is embedded), and a piece inside a class names it (`class Owner`) after the
        path: a method alone does not say whose it is. The others get 15-50 line windows, which
        hold several small functions (fewer, cheaper vectors; per definition measured no better
        for the hashing embedder). Measurements: docs/search.md, "Evaluation"."""
        embedder = embedder if embedder is not None else self.embedder
        header = rel.replace("/", " ") + "\n"
        lines = text.split("\n")
        symbols = getattr(self.fulltext, "symbols", None)
        if not getattr(embedder, "embeds_definitions", False) or symbols is None:
            return window_pieces(rel, text)  # as the indexing workers cut it too
        outline = symbols.outline(rel)
        pieces = []
        for piece in file_pieces(lines, [symbol.line for symbol in outline]):
            owners = enclosing_classes(outline, piece.start)
            context = f"class {'.'.join(owners)}\n" if owners else ""
            pieces.append(Chunk(piece.start, piece.end, header + context + piece.text))
        return pieces

    def drop_caches(self) -> DropResult:
        """Drop every loaded file and cached query of this project."""
        return self.loaded_files.clear() + self.query_cache.clear()

    def forget_files(self, rels: list[str]) -> None:
        """After `rels` changed on disk: their loaded copies and every cached result are stale."""
        self.generation += 1
        for rel in rels:
            self.loaded_files.discard(rel)
        self.query_cache.invalidate()

    # -- vectors ----------------------------------------------------------------------------

    @property
    def vectors(self) -> VectorIndex | None:
        """The vector index if loaded (searches load it on demand via `load_vectors`)."""
        return self._vectors

    def set_vectors(self, vectors: VectorIndex | None) -> None:
        """Install a vector index (the indexer's job)."""
        with self.lock:
            if self._vectors is not None and self._vectors is not vectors:
                self._vectors.stop_graph_build()
            self._vectors = vectors
            if vectors is None:
                self._release_vector_grant()
            else:
                vectors.graph_reserver = self._reserve_graph

    def effective_reserver(self) -> Reserver:
        """What this project's large allocations ask first: its own reserver if it has one,
        else the process's (the memory manager's once installed)."""
        from engine.memory.reservations import get_default_reserver

        return self.reserver if self.reserver is not None else get_default_reserver()

    def _reserve_graph(self, nbytes: int) -> Grant | None:
        """A grant for building the vector index's hnswlib graph, or None: queries stay exact."""
        from engine.memory.reservations import Purpose

        grant = self.effective_reserver().try_reserve(
            nbytes, Purpose.VECTOR_INDEX, self.priority, self.name
        )
        if grant is None:
            log.info(
                "%s: no room for the vector graph (%.0f MB); semantic search stays exact",
                self.name,
                nbytes / 2**20,
            )
        return grant

    def _release_vector_grant(self) -> None:
        grant, self._vector_grant = self._vector_grant, None
        if grant is not None:
            grant.release()

    def _reserve_vectors(self) -> bool:
        """Reserve what loading the saved vector index will hold; False (with
        `semantic_note` set) if the reservation is refused."""
        from engine.index.vectors import VectorIndex
        from engine.memory.reservations import Purpose, ReservationRefused

        count = VectorIndex.saved_count(self.index_dir)
        files = len(self.manifest.files) if self.manifest is not None else 0
        if count is None:  # to be rebuilt: about one chunk per 40 lines, say 8 per file
            count = files * 8
        nbytes = VectorIndex.load_bytes_estimate(count, self.embedder.dim, n_paths=files)
        try:
            self._vector_grant = self.effective_reserver().reserve(
                nbytes, Purpose.VECTOR_INDEX, self.priority, self.name
            )
        except ReservationRefused as error:
            reason = str(error) or f"{nbytes} bytes not granted"
            self.semantic_note = f"semantic unavailable for {self.name}: {reason}"
            log.info("%s", self.semantic_note)
            return False
        self.semantic_note = ""
        return True

    def unload_vectors(self, wait: bool = False) -> int:
        """Save the vector index if it changed, then drop it; returns the bytes released.

        Without `wait`, a project whose lock is held (an indexing batch, a load) is left
        alone and 0 returned: the memory manager must never wait behind indexing.
        """
        if not self.lock.acquire(blocking=wait):
            log.info("%s: busy (indexing or loading); vectors not unloaded now", self.name)
            return 0
        try:
            vectors = self._vectors
            if vectors is None:
                return 0
            released = vectors.memory_bytes()
            if self.vectors_dirty:
                self.persist()
            vectors.stop_graph_build()
            self._vectors = None
            self._release_vector_grant()
            return released
        finally:
            self.lock.release()

    def load_vectors(self, embed_pending: bool = True) -> bool:
        """Load the vector index from disk if unloaded; False if it had to be left out.

        Files changed meanwhile are embedded now, unless `embed_pending` is False (the
        indexer then embeds them in reserved batches itself)."""
        from engine.index import indexer  # the indexer imports Project: load it lazily
        from engine.index.vectors import VectorIndex, VectorIndexError

        with self.lock:
            if self._vectors is not None or self.closed:
                return self._vectors is not None
            if not self._reserve_vectors():
                return False
            try:
                self._vectors = VectorIndex.load(
                    self.index_dir, self.embedder.dim, self.embedder.name
                )
                self._vectors.graph_reserver = self._reserve_graph
            except VectorIndexError as error:
                log.warning("%s: vector index rebuilt in the background: %s", self.name, error)
                self._vectors = indexer.start_vector_rebuild(self)
                return True
            finally:
                # Loaded: RSS holds the bytes now, so the reservation is realised.
                self._release_vector_grant()
            if self.pending_vector_paths and embed_pending:
                indexer.embed_paths(self, sorted(self.pending_vector_paths))
                self.pending_vector_paths.clear()
            return True

    # -- persistence ------------------------------------------------------------------------

    def persist(self) -> None:
        """Save the vectors (if changed) and then the manifest that matches them."""
        with self.lock:
            if self.manifest is None or self.closed:
                return
            if self._vectors is not None and self.vectors_dirty:
                self._vectors.save(self.index_dir)
                self.vectors_dirty = False
            # The vectors on disk lack the pending files: the manifest lists them as
            # `vectors_pending`, so the next open embeds just those.
            self.manifest.save(self.index_dir / "manifest.json", self.pending_vector_paths)
