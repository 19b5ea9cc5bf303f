"""Building and updating a project's indexes: open from disk, sync with the files, re-index.

Whatever is wrong on disk (a missing or corrupt manifest, a tantivy directory that does not
open, a vector file whose hash does not match) leads to a rebuild with a warning, never to a
crash or to loading unverified data. One bad file is counted and skipped, never fatal.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from engine.atomic import STALE_TEMP_SECONDS, remove_stale_temp_files, set_aside
from engine.index.analysis import (
    EMBED_BYTES_PER_CHAR,
    EMBED_SLICE_CHARS,
    EmbeddedFile,
    FileAnalysis,
    embed_files,
    file_groups,
)
from engine.index.fulltext import (
    FULLTEXT_DIR,
    FullTextBatch,
    FullTextBusyError,
    FullTextIndex,
    FullTextOpenError,
)
from engine.index.manifest import (
    MANIFEST_FILE,
    STATUS_INDEXED,
    STATUS_SKIPPED,
    FileState,
    Manifest,
    ManifestError,
)
from engine.index.project import Project
from engine.index.results import STAGE_FULLTEXT, STAGE_SEMANTIC, IndexProgress
from engine.index.walker import (
    SKIP_BINARY,
    SKIP_OVERSIZED,
    FileEntry,
    is_utf8_name,
    walk_project,
)
from engine.index.worker_feed import WorkerFeed
from engine.memory.reservations import (
    Grant,
    Purpose,
    ReservationRefused,
    unreserved,
)

if TYPE_CHECKING:  # the vector index loads on first use
    from engine.index.vectors import VectorIndex

log = logging.getLogger(__name__)

ProgressCallback = Callable[[IndexProgress], None]
# Asked between batches: True stops the run (a cancelled job); what was committed is kept.
StopCheck = Callable[[], bool]
# Report progress at most this often (in files), so a big project does not flood the TUI.
_PROGRESS_EVERY = 25
# Batches: bounded working memory per commit, sized from the writer's arena.
_MIN_BATCH_BYTES = 1 << 20
_MAX_BATCH_BYTES = 32 << 20
_MAX_BATCH_FILES = 2000
# A batch holds a file's text about three times: bytes read, the decoded str, tantivy's copy.
_TEXT_COPIES = 3
# tantivy's arena grows with the postings added: about twice the source text at most.
_ARENA_PER_SOURCE_BYTE = 2
# About one chunk per 1.5 KB of source (15-50 lines of ~40 bytes); for reservations only.
_BYTES_PER_CHUNK_ESTIMATE = 1500
# One vector per definition (`embeds_definitions`): the eval's 194 stdlib files, 3.5 MB
# without docstrings, gave 10 002 pieces (354 bytes each); rounded down to err on the safe side.
_BYTES_PER_DEFINITION_ESTIMATE = 300
# A vector row's bytes besides its int8 components (`vectors.ROW_EXTRA_BYTES`; not imported
# from there, which would load numpy to open a project).
_CHUNK_ROW_BYTES = 16
# What sqlite and tantivy say when the disk is full (they do not raise OSError).
_DISK_FULL_MARKERS = ("no space left on device", "database or disk is full", "disk quota")
# Paused while the budget has no room: retry after 0.25 s, doubling up to 2 s, for 60 s.
_PAUSE_FIRST_SECONDS = 0.25
_PAUSE_MAX_STEP_SECONDS = 2.0
_MAX_PAUSE_SECONDS = 60.0


def open_project(
    project: Project,
    heap_bytes: int,
    on_progress: ProgressCallback | None,
    should_stop: StopCheck | None = None,
) -> None:
    """Open the indexes on disk (or start fresh) and bring them up to date with the files.

    `project.lock` is held per batch, not for the whole run, so the memory manager can
    unload this project's vectors between batches; `project.indexing_lock` keeps two
    indexing runs of one project apart.
    """
    with project.indexing_lock:
        if project.ready.is_set():  # opened meanwhile by a concurrent call
            return
        with project.lock:
            _report(project, on_progress, IndexProgress(phase="scanning"))
            removed = remove_stale_temp_files(project.index_dir, STALE_TEMP_SECONDS)
            if removed:
                log.info("%s: removed %d files of writes killed part-way", project.name, removed)
            project.fulltext = _open_fulltext(project, heap_bytes)
            # A full-text index created just now holds nothing the manifest could describe.
            manifest = None if project.fulltext.created else _load_manifest(project)
            # Lazy vectors: opening an indexed project does not load its vector index; the
            # first semantic or hybrid search does (Project.load_vectors, via a reservation).
            vectors = None
            if manifest is None:
                with project.fulltext.batch() as batch:
                    batch.clear()
                manifest = Manifest(str(project.path), project.embedder.name)
                from engine.index.vectors import VectorIndex

                vectors = VectorIndex(project.embedder.dim, project.embedder.name)
                project.vectors_dirty = True
            project.manifest = manifest
            project.pending_vector_paths.update(manifest.vectors_pending)
            project.set_vectors(vectors)
        if vectors is None:  # a saved index: searches may use it while it is synced
            project.servable.set()
        try:
            if sync(project, on_progress, should_stop):
                with project.lock:
                    if project.vectors is not None:
                        project.vectors.trim_capacity()
        except FullTextBusyError as error:
            # Serve the index as it is; the manifest is left alone, so the next open syncs.
            log.warning("%s: not brought up to date: %s", project.name, error)
        else:
            fulltext = project.fulltext  # None if the project was closed meanwhile
            if vectors is not None and fulltext is not None:  # built from scratch: pack once
                fulltext.symbols.compact()
            try:
                project.persist()
            except OSError as error:
                # Kept in memory and served; the next save (eviction, shutdown) tries again.
                log.warning("%s: index not saved: %s", project.name, error)
                if is_disk_full(error) and not project.index_note:
                    project.index_note = f"{project.name}: index not saved, the disk is full"
    _report(project, on_progress, _done_progress(project))
    project.servable.set()
    project.ready.set()


def sync(
    project: Project,
    on_progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> int:
    """Walk the project and re-index what differs from the manifest; returns files changed."""
    with project.indexing_lock:
        report = walk_project(project.path, project.rules)
        assert project.manifest is not None
        changed, removed = project.manifest.changes(report.files)
        project.skipped = dict(report.skipped)
        changed_names = {entry.rel for entry in changed}
        unembedded = [
            entry
            for entry in report.files
            if entry.rel in project.pending_vector_paths and entry.rel not in changed_names
        ]
        project.index_note = ""  # a full walk: whatever a full disk left out is tried again
        apply_changes(project, changed, removed, on_progress, should_stop, unembedded)
        return len(changed) + len(removed) + len(unembedded)


def update_paths(project: Project, rels: list[str]) -> int:
    """Re-index just these files (added, changed or deleted); returns how many were handled."""
    with project.indexing_lock:
        if project.manifest is None or project.closed:
            return 0
        changed, removed = [], []
        for rel in rels:
            entry = _current_entry(project, rel)
            if entry is not None:
                # No identity check here: two writes within the clock's granularity can leave
                # mtime and size equal, and the caller (the watcher) knows the file changed.
                changed.append(entry)
            elif rel in project.manifest.files:
                removed.append(rel)
        if changed or removed:
            apply_changes(project, changed, removed, None)
        return len(changed) + len(removed)


def _current_entry(project: Project, rel: str) -> FileEntry | None:
    """The file as it is now, or None if it is gone, ignored, not a regular file or misnamed."""
    if not is_utf8_name(rel) or project.rules.is_ignored(rel):
        return None
    try:
        info = os.lstat(project.path / rel)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return FileEntry(rel, info.st_size, info.st_mtime_ns)


def apply_changes(
    project: Project,
    changed: list[FileEntry],
    removed: list[str],
    on_progress: ProgressCallback | None,
    should_stop: StopCheck | None = None,
    unembedded: list[FileEntry] | None = None,
) -> None:
    """Index `changed` and delete `removed`: full-text first, in batches that are each
    reserved and committed (searchable at once), then the vectors of what was indexed and
    of `unembedded` (files a stopped run left in full-text only)."""
    assert project.manifest is not None and project.fulltext is not None
    if unembedded:
        _resume_semantic(project, unembedded)
    if not changed and not removed and not unembedded:
        _report(project, on_progress, IndexProgress(0, 0, 0, "indexing", stage=STAGE_FULLTEXT))
        return  # no empty commit: an unchanged project leaves its index files untouched
    run = _Run(project, on_progress, should_stop, len(changed))
    run.report(STAGE_FULLTEXT)
    if removed:
        with project.lock:
            with project.fulltext.batch() as batch:
                for rel in removed:
                    batch.delete(rel)
                    project.manifest.files.pop(rel, None)
                    _remove_vectors(project, rel)
            project.forget_files(removed)
    work_bytes = sum(entry.size for entry in changed) + sum(e.size for e in unembedded or ())
    run.feed.start(project.effective_reserver(), work_bytes)
    try:
        indexed = _run_stage(run, changed, STAGE_FULLTEXT, _fulltext_cost, _fulltext_batch)
        for reason, count in run.skipped.items():
            project.skipped[reason] = project.skipped.get(reason, 0) + count
        indexed.extend(unembedded or ())
        run.start_stage(len(indexed))
        run.report(STAGE_SEMANTIC)
        _run_stage(run, indexed, STAGE_SEMANTIC, _semantic_cost, _semantic_batch)
    finally:
        run.feed.close()
    project.set_progress(
        IndexProgress(run.done, run.total, run.bytes_done, "indexing", stage=STAGE_SEMANTIC)
    )


def _resume_semantic(project: Project, unembedded: list[FileEntry]) -> None:
    """Load the saved vectors (through their reservation) so the semantic stage can add the
    files a stopped run did not embed; refused, they stay pending for the next load."""
    if project.vectors is None:
        project.load_vectors(embed_pending=False)
    log.info("%s: embedding %d file(s) a stopped run left", project.name, len(unembedded))


class _Run:
    """One indexing run's progress, stop check and reservations."""

    def __init__(
        self,
        project: Project,
        on_progress: ProgressCallback | None,
        should_stop: StopCheck | None,
        total: int,
    ) -> None:
        self.project = project
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.total = total
        self.done = 0
        self.bytes_done = 0
        self.skipped: Counter[str] = Counter()
        fulltext = project.fulltext
        self.heap_bytes = fulltext.heap_bytes if fulltext is not None else 0
        self.batch_bytes = batch_bytes_for(self.heap_bytes)
        self.over_budget = False
        self._reported_at = 0
        self.feed = WorkerFeed(
            project.name, project.path, project.embedder, project.pieces_to_embed
        )

    def look_ahead(
        self,
        entries: list[FileEntry],
        start: int,
        cap: int,
        stage: str,
        cost: Callable[[_Run, list[FileEntry]], int],
    ) -> None:
        """Reserve the batch after this one and hand it to the workers now, if it fits
        without waiting; else it is taken as usual when its turn comes."""
        semantic = stage == STAGE_SEMANTIC
        if start >= len(entries) or not self.feed.can_take_ahead(semantic):
            return
        batch = _take(entries, start, cap)
        project = self.project
        grant = project.effective_reserver().try_reserve(
            cost(self, batch), Purpose.INDEX_BATCH, project.priority, project.name
        )
        if grant is not None:
            self.feed.hand_ahead(start, batch, grant, semantic)

    def start_stage(self, total: int) -> None:
        self.total = total
        self.done = self.bytes_done = self._reported_at = 0

    def stopped(self) -> bool:
        project = self.project
        if project.closed or project.closing:
            return True
        return self.should_stop is not None and self.should_stop()

    def report(self, stage: str, paused: str = "", force: bool = True) -> None:
        if not force and self.done - self._reported_at < _PROGRESS_EVERY:
            self.project.set_progress(self._progress(stage, paused))
            return
        self._reported_at = self.done
        _report(self.project, self.on_progress, self._progress(stage, paused))

    def _progress(self, stage: str, paused: str) -> IndexProgress:
        return IndexProgress(
            self.done, self.total, self.bytes_done, "indexing", stage=stage, paused=paused
        )

    def reserve(self, nbytes: int, stage: str, can_shrink: bool) -> Grant | _Refused | None:
        """A grant for `nbytes`; `REFUSED` if it does not fit and the batch `can_shrink`;
        else waits (paused, visibly) until room is made. None if stopped while waiting.

        After `_MAX_PAUSE_SECONDS` without room: in the semantic stage the stage ends (None)
        with `semantic_note` saying the semantic index is incomplete, since vectors would
        stay over the budget; in the full-text stage (memory given back after each batch) a
        single file goes on without a grant, and the run says so: a budget below the
        engine's floor must not stall indexing for ever (the memory monitor remains the
        safety net). Once that happened, later single files wait one short retry only,
        until a grant succeeds again.
        """
        project = self.project
        reserver = project.effective_reserver()
        waited = 0.0
        delay = _PAUSE_FIRST_SECONDS
        limit = _PAUSE_FIRST_SECONDS if self.over_budget else _MAX_PAUSE_SECONDS
        while True:
            try:
                grant = reserver.reserve(
                    nbytes, Purpose.INDEX_BATCH, project.priority, project.name
                )
            except ReservationRefused as refusal:
                if self.feed.pool is not None:
                    # The workers only speed indexing up: their memory goes to the batch first.
                    log.info("%s: indexing workers stopped to make room: %s", project.name, refusal)
                    self.feed.close()
                    continue
                if can_shrink:
                    return REFUSED
                if waited >= limit and stage == STAGE_SEMANTIC:
                    # Vectors stay in memory: going on would hold the budget's excess for
                    # good. Full-text is complete; semantic answers what is embedded.
                    project.semantic_note = (
                        f"semantic index of {project.name} is incomplete: the memory budget "
                        f"has no room for more vectors ({refusal.reason}); "
                        f"{len(project.pending_vector_paths)} files are not embedded; raise "
                        "memory.total_budget_mb to embed them"
                    )
                    log.warning("%s", project.semantic_note)
                    return None
                if waited >= limit:
                    if not self.over_budget:
                        log.warning(
                            "%s: indexing goes on over the budget after %.0f s paused: %s",
                            project.name,
                            waited,
                            refusal,
                        )
                    self.over_budget = True
                    return unreserved(nbytes, Purpose.INDEX_BATCH, project.priority, project.name)
                if waited == 0 and not self.over_budget:
                    log.info("%s: indexing paused: %s", project.name, refusal)
                self.report(stage, paused=refusal.reason)
                if self._sleep(delay):
                    return None
                waited += delay
                delay = min(delay * 2, _PAUSE_MAX_STEP_SECONDS)
                continue
            if waited and not self.over_budget:
                log.info("%s: indexing resumed after %.1f s paused", project.name, waited)
                self.report(stage)
            if self.over_budget:
                log.info("%s: indexing is within the budget again", project.name)
            self.over_budget = False
            return grant

    def _sleep(self, seconds: float) -> bool:
        """Sleep, waking early when the run is stopped; True if it was."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.stopped():
                return True
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return self.stopped()


def batch_bytes_for(heap_bytes: int) -> int:
    """Source bytes per batch: half the writer's arena (itself sized from the budget)."""
    return max(_MIN_BATCH_BYTES, min(_MAX_BATCH_BYTES, heap_bytes // 2))


class _Refused:
    """The reservation did not fit: try a smaller batch."""


REFUSED = _Refused()


def _run_stage(
    run: _Run,
    entries: list[FileEntry],
    stage: str,
    cost: Callable[[_Run, list[FileEntry]], int],
    write: Callable[[_Run, list[FileEntry]], list[FileEntry]],
) -> list[FileEntry]:
    """Write `entries` in batches, each reserved first (`cost`) and released after `write`.

    A batch that does not fit is halved until it does; a single file that does not fit
    pauses the run. The batch size grows back (doubling) after each batch that fit.
    """
    written: list[FileEntry] = []
    cap = run.batch_bytes
    start = 0
    try:
        while start < len(entries) and not run.stopped():
            ahead = run.feed.take_ahead(start)
            if ahead is not None:
                batch, grant = ahead
            else:
                batch = _take(entries, start, cap)
                grant = run.reserve(cost(run, batch), stage, can_shrink=len(batch) > 1)
                if grant is REFUSED:
                    cap = max(1, sum(entry.size for entry in batch) // 2)
                    continue
                if grant is None:
                    break
            try:
                # The workers analyse the next batch while this one is written and committed.
                run.look_ahead(entries, start + len(batch), cap, stage, cost)
                written.extend(write(run, batch))
            except Exception as error:
                if not is_disk_full(error):
                    raise
                _stop_for_full_disk(run, error)
                break
            finally:
                grant.release()
            start += len(batch)
            cap = min(run.batch_bytes, cap * 2)
    finally:
        run.feed.drop_ahead()
    return written


def is_disk_full(error: BaseException) -> bool:
    """Whether `error` says the disk (or quota) is full, whichever layer raised it: the OS,
    sqlite (symbols) or tantivy (its message carries the OS error)."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error).lower()
    return any(marker in text for marker in _DISK_FULL_MARKERS)


def _stop_for_full_disk(run: _Run, error: BaseException) -> None:
    project = run.project
    project.index_note = (
        f"{project.name}: indexing stopped, the disk under {project.index_dir} is full "
        f"({error}); what was committed before is searchable; free space and refresh the "
        "project to index the rest"
    )
    log.warning("%s", project.index_note)


def _take(entries: list[FileEntry], start: int, max_bytes: int) -> list[FileEntry]:
    """The run of entries from `start` of at most `max_bytes` (at least one entry)."""
    end = start
    size = 0
    while end < len(entries) and end - start < _MAX_BATCH_FILES:
        size += entries[end].size
        if end > start and size > max_bytes:
            break
        end += 1
    return entries[start:end]


def _fulltext_cost(run: _Run, entries: list[FileEntry]) -> int:
    """The batch's texts plus the writer's arena, which grows with what is added (to at most
    the heap it was opened with)."""
    source_bytes = sum(entry.size for entry in entries)
    arena = min(run.heap_bytes, _ARENA_PER_SOURCE_BYTE * source_bytes)
    return arena + _TEXT_COPIES * source_bytes


def _semantic_cost(run: _Run, entries: list[FileEntry]) -> int:
    """One slice of texts being embedded (the biggest file may make it bigger), the float32
    rows the workers return, and the int8 rows the vector index keeps for the whole batch."""
    source_bytes = sum(entry.size for entry in entries)
    per_chunk = (
        _BYTES_PER_DEFINITION_ESTIMATE
        if getattr(run.project.embedder, "embeds_definitions", False)
        else _BYTES_PER_CHUNK_ESTIMATE
    )
    chunks_estimate = source_bytes // per_chunk + len(entries)
    dim = run.project.embedder.dim
    largest = max((entry.size for entry in entries), default=0)
    # Small files are embedded together up to a slice; a big one alone, a slice at a time,
    # its chunks' float32 rows gathered before they are stored.
    # One slice per worker being embedded at once (at least two, as in-process batches do).
    slices = max(2, run.feed.workers)
    slice_chars = min(source_bytes, slices * EMBED_SLICE_CHARS)
    largest_rows = (largest // per_chunk + 1) * dim * 4 * 2
    # Workers hand the batch's vectors back as float32 rows: all of them at once when the
    # batch was handed to them ahead and was done before its turn.
    returned_rows = chunks_estimate * dim * 4 if run.feed.workers else 0
    vectors = run.project.vectors
    growth = vectors.growth_bytes(chunks_estimate) if vectors is not None else 0
    return (
        _TEXT_COPIES * largest
        + max(largest_rows, returned_rows)
        + max(growth, chunks_estimate * (dim + _CHUNK_ROW_BYTES))
        + slice_chars * EMBED_BYTES_PER_CHAR
    )


def _fulltext_batch(run: _Run, entries: list[FileEntry]) -> list[FileEntry]:
    """Write one batch to tantivy (committed on exit); return the entries indexed."""
    project = run.project
    indexed: list[FileEntry] = []
    with project.lock:
        if project.closed or project.fulltext is None:
            return []
        manifest = project.manifest
        # If the batch fails, tantivy rolls back; the manifest must too, or the next save
        # would record these files as indexed while full-text search has never seen them.
        manifest_before = {entry.rel: manifest.files.get(entry.rel) for entry in entries}
        try:
            with project.fulltext.batch() as batch:
                for entry, analysis in zip(entries, run.feed.analyses(entries), strict=True):
                    if _put_fulltext(project, batch, entry, analysis, run.skipped):
                        indexed.append(entry)
                    run.done += 1
                    run.bytes_done += entry.size
        except BaseException:
            for rel, state in manifest_before.items():
                if state is None:
                    manifest.files.pop(rel, None)
                else:
                    manifest.files[rel] = state
            raise
        project.forget_files([entry.rel for entry in entries])
    run.report(STAGE_FULLTEXT, force=False)
    return indexed


def _put_fulltext(
    project: Project,
    batch: FullTextBatch,
    entry: FileEntry,
    analysis: FileAnalysis,
    skipped: Counter[str],
) -> bool:
    """Index one file's text (its vectors follow later); False if it was skipped."""
    manifest = project.manifest
    if analysis.text is None:
        skipped[analysis.skip_reason or "unreadable"] += 1
        batch.delete(entry.rel)
        _remove_vectors(project, entry.rel)
        if project.vectors is not None:
            project.pending_vector_paths.discard(entry.rel)
        if analysis.skip_reason in (SKIP_BINARY, SKIP_OVERSIZED):
            manifest.files[entry.rel] = FileState(entry.mtime_ns, entry.size, STATUS_SKIPPED)
        else:  # unreadable now; try again next time
            manifest.files.pop(entry.rel, None)
        return False
    project.lossy_files += analysis.lossy
    batch.put_analysis(analysis)
    manifest.files[entry.rel] = FileState(entry.mtime_ns, entry.size, STATUS_INDEXED)
    # Until its vectors are written the file is pending: a save now keeps the old manifest.
    project.pending_vector_paths.add(entry.rel)
    return True


def _semantic_batch(run: _Run, entries: list[FileEntry]) -> list[FileEntry]:
    """Embed one batch of files indexed in full-text (read again: the page cache has them)."""
    project = run.project
    with project.lock:
        if project.closed or project.vectors is None:
            return []  # unloaded meanwhile: the files stay pending until the next load
        pending = _still_pending(project, entries)
        _store_embedded(project, project.vectors, run.feed.embedded(entries, pending))
        for entry in entries:
            project.pending_vector_paths.discard(entry.rel)
        run.done += len(entries)
        run.bytes_done += sum(entry.size for entry in entries)
    run.report(STAGE_SEMANTIC, force=False)
    return entries


def _still_pending(project: Project, entries: list[FileEntry]) -> list[FileEntry]:
    """The entries still waiting for vectors; a file no longer indexed has its vectors
    removed instead."""
    pending = []
    for entry in entries:
        if entry.rel not in project.pending_vector_paths:
            continue
        state = project.manifest.files.get(entry.rel) if project.manifest else None
        if state is None or state.status != STATUS_INDEXED:
            _remove_vectors(project, entry.rel)
        else:
            pending.append(entry)
    return pending


def _embed_files(project: Project, rels: list[str]) -> list[EmbeddedFile]:
    """Read and embed these files in-process (one group: about `GROUP_BYTES` of text), cut
    into the pieces the project's embedder wants (`Project.pieces_to_embed`)."""
    return embed_files(project.embedder, project.path, rels, project.pieces_to_embed)


def _store_embedded(project: Project, vectors: VectorIndex, items: Iterable[EmbeddedFile]) -> None:
    for item in items:
        if item.spans is None:  # no longer readable
            _remove_vectors(project, item.rel)
        elif item.spans:
            vectors.replace_file(item.rel, list(item.spans), item.vectors)
        else:
            vectors.remove_file(item.rel)
    project.vectors_dirty = True


def _remove_vectors(project: Project, rel: str) -> None:
    vectors = project.vectors
    if vectors is None:
        project.pending_vector_paths.add(rel)
    elif vectors.remove_file(rel):
        project.vectors_dirty = True


def embed_paths(project: Project, rels: list[str]) -> None:
    """Embed these files again from disk (after the vector index was reloaded)."""
    vectors = project.vectors
    if vectors is None:
        project.pending_vector_paths.update(rels)
        return
    files = project.manifest.files if project.manifest else {}
    entries = []
    for rel in rels:
        state = files.get(rel)
        if state is None or state.status != STATUS_INDEXED:
            _remove_vectors(project, rel)
        else:
            entries.append((rel, state.size))
    for group in file_groups(entries):
        _store_embedded(project, vectors, _embed_files(project, group))


def start_vector_rebuild(project: Project) -> VectorIndex:
    """An empty vector index, and a background sync that embeds every indexed file into it
    in reserved batches (when the saved one cannot be trusted). Until it is done, semantic
    answers say so; the search that found the damage does not wait for it."""
    from engine.index.vectors import VectorIndex

    vectors = VectorIndex(project.embedder.dim, project.embedder.name)
    project.set_vectors(vectors)
    files = project.manifest.files if project.manifest else {}
    pending = [rel for rel, state in files.items() if state.status == STATUS_INDEXED]
    project.pending_vector_paths.update(pending)
    project.vectors_dirty = True
    project.semantic_note = (
        f"semantic index of {project.name} is being rebuilt (its saved vectors were "
        f"unusable): {len(pending)} files to embed"
    )
    threading.Thread(
        target=_rebuild_in_background, args=(project,), name=f"vectors-{project.name}", daemon=True
    ).start()
    return vectors


def _rebuild_in_background(project: Project) -> None:
    note = project.semantic_note
    try:
        sync(project, should_stop=lambda: project.closing or project.closed)
    except Exception:  # the thread's only report is the log; searches keep the note
        log.exception("%s: rebuilding the vector index failed", project.name)
        return
    if project.semantic_note == note and not project.pending_vector_paths:
        project.semantic_note = ""
        with contextlib.suppress(OSError):  # kept in memory; the next save tries again
            project.persist()


def _load_manifest(project: Project) -> Manifest | None:
    path = project.index_dir / MANIFEST_FILE
    try:
        manifest = Manifest.load(path)
    except ManifestError as error:
        if path.exists():
            log.warning("%s: rebuilding the index: %s", project.name, error)
            set_aside(path, "corrupt")
        return None
    if manifest.project_path != str(project.path) or manifest.embedder != project.embedder.name:
        log.warning("%s: index was built for another path or embedder; rebuilding", project.name)
        return None
    return manifest


def _open_fulltext(project: Project, heap_bytes: int) -> FullTextIndex:
    directory = project.index_dir / FULLTEXT_DIR
    try:
        return FullTextIndex(directory, heap_bytes)
    except FullTextOpenError as error:
        log.warning("%s: rebuilding the full-text index: %s", project.name, error)
        set_aside(directory, "corrupt")
        # The manifest describes the index set aside: forget it so every file is indexed.
        manifest_path = project.index_dir / MANIFEST_FILE
        if manifest_path.exists():
            set_aside(manifest_path, "stale")
        return FullTextIndex(directory, heap_bytes)


def _done_progress(project: Project) -> IndexProgress:
    """Ready: the files in the index, and the source bytes of those indexed (not only what
    this run indexed: a restart that found nothing changed still shows the project's size)."""
    states = project.manifest.files.values() if project.manifest else ()
    # A size of -1 stands for "unknown" (read from a version 1 manifest).
    indexed_bytes = sum(max(0, state.size) for state in states if state.status == STATUS_INDEXED)
    files = len(states)
    return IndexProgress(files, files, indexed_bytes, "ready")


def _report(
    project: Project, on_progress: ProgressCallback | None, progress: IndexProgress
) -> None:
    project.set_progress(progress)
    if on_progress is not None:
        try:
            on_progress(progress)
        except Exception:  # a broken progress display must not stop indexing
            log.exception("progress callback failed")
