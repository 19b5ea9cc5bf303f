"""Building and updating a project's indexes: open from disk, sync with the files, re-index.

Whatever is wrong on disk (a missing or corrupt manifest, a tantivy directory that does not
open, a vector file whose hash does not match) leads to a rebuild with a warning, never to a
crash or to loading unverified data. One bad file is counted and skipped, never fatal.
"""

from __future__ import annotations

import logging
import os
import stat
from collections import Counter
from collections.abc import Callable

from engine.atomic import set_aside
from engine.index.chunker import chunk_lines
from engine.index.fulltext import (
    FULLTEXT_DIR,
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
from engine.index.results import IndexProgress
from engine.index.vectors import VectorIndex
from engine.index.walker import (
    MAX_FILE_BYTES,
    SKIP_BINARY,
    SKIP_OVERSIZED,
    FileEntry,
    is_utf8_name,
    read_source,
    walk_project,
)

log = logging.getLogger(__name__)

ProgressCallback = Callable[[IndexProgress], None]
# Asked between files: True stops the indexing loop (a cancelled job); what was done is kept.
StopCheck = Callable[[], bool]
# Report progress at most this often (in files), so a big project does not flood the TUI.
_PROGRESS_EVERY = 25


def open_project(
    project: Project,
    heap_bytes: int,
    on_progress: ProgressCallback | None,
    should_stop: StopCheck | None = None,
) -> None:
    """Open the indexes on disk (or start fresh) and bring them up to date with the files."""
    with project.lock:
        if project.ready.is_set():  # opened meanwhile by a concurrent call
            return
        _report(project, on_progress, IndexProgress(phase="scanning"))
        project.fulltext = _open_fulltext(project, heap_bytes)
        # A full-text index created just now holds nothing the manifest could describe.
        manifest = None if project.fulltext.created else _load_manifest(project)
        # Lazy vectors: opening an indexed project does not load its vector index; the first
        # semantic or hybrid search does (Project.load_vectors, through a reservation).
        vectors = None
        if manifest is None:
            with project.fulltext.batch() as batch:
                batch.clear()
            manifest = Manifest(str(project.path), project.embedder.name)
            vectors = VectorIndex(project.embedder.dim, project.embedder.name)
            project.vectors_dirty = True
        project.manifest = manifest
        project.set_vectors(vectors)
        try:
            if sync(project, on_progress, should_stop) and project.vectors is not None:
                project.vectors.trim_capacity()
        except FullTextBusyError as error:
            # Serve the index as it is; the manifest is left alone, so the next open syncs.
            log.warning("%s: not brought up to date: %s", project.name, error)
        else:
            project.persist()
    _report(project, on_progress, _done_progress(project))
    project.ready.set()


def sync(
    project: Project,
    on_progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> int:
    """Walk the project and re-index what differs from the manifest; returns files changed."""
    report = walk_project(project.path, project.rules)
    assert project.manifest is not None
    changed, removed = project.manifest.changes(report.files)
    project.skipped = dict(report.skipped)
    apply_changes(project, changed, removed, on_progress, should_stop)
    return len(changed) + len(removed)


def update_paths(project: Project, rels: list[str]) -> int:
    """Re-index just these files (added, changed or deleted); returns how many were handled."""
    with project.lock:
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
) -> None:
    """Index `changed` and delete `removed`, in one tantivy commit, updating the manifest."""
    manifest = project.manifest
    assert manifest is not None and project.fulltext is not None
    total = len(changed)
    skipped: Counter[str] = Counter()
    _report(project, on_progress, IndexProgress(0, total, 0, "indexing"))
    if not changed and not removed:
        return  # no empty commit: an unchanged project leaves its index files untouched
    # If the batch fails, tantivy rolls back; the manifest must too, or the next save would
    # record these files as indexed while full-text search has never seen them.
    manifest_before = dict(manifest.files)
    try:
        done, bytes_done = _apply_batch(
            project, changed, removed, on_progress, skipped, total, should_stop
        )
    except BaseException:
        manifest.files.clear()
        manifest.files.update(manifest_before)
        raise
    for reason, count in skipped.items():
        project.skipped[reason] = project.skipped.get(reason, 0) + count
    project.set_progress(IndexProgress(done, total, bytes_done, "indexing"))
    if changed or removed:
        project.forget_files([entry.rel for entry in changed] + removed)


def _apply_batch(
    project: Project,
    changed: list[FileEntry],
    removed: list[str],
    on_progress: ProgressCallback | None,
    skipped: Counter[str],
    total: int,
    should_stop: StopCheck | None = None,
) -> tuple[int, int]:
    """Write one tantivy batch (committed on exit); return files and bytes done."""
    manifest = project.manifest
    done = bytes_done = 0
    with project.fulltext.batch() as batch:
        for rel in removed:
            batch.delete(rel)
            manifest.files.pop(rel, None)
            _remove_vectors(project, rel)
        for entry in changed:
            if project.closed or (should_stop is not None and should_stop()):
                break
            source = read_source(project.path / entry.rel, MAX_FILE_BYTES)
            if source.text is None:
                skipped[source.skip_reason or "unreadable"] += 1
                batch.delete(entry.rel)
                _remove_vectors(project, entry.rel)
                if source.skip_reason in (SKIP_BINARY, SKIP_OVERSIZED):
                    manifest.files[entry.rel] = FileState(
                        entry.mtime_ns, entry.size, STATUS_SKIPPED
                    )
                else:  # unreadable now; try again next time
                    manifest.files.pop(entry.rel, None)
            else:
                project.lossy_files += source.lossy
                batch.put(entry.rel, source.text)
                _embed(project, entry.rel, source.text)
                manifest.files[entry.rel] = FileState(entry.mtime_ns, entry.size, STATUS_INDEXED)
            done += 1
            bytes_done += entry.size
            if on_progress is not None and done % _PROGRESS_EVERY == 0:
                _report(project, on_progress, IndexProgress(done, total, bytes_done, "indexing"))
    return done, bytes_done


def _embed(project: Project, rel: str, text: str) -> None:
    vectors = project.vectors
    if vectors is None:
        project.pending_vector_paths.add(rel)
        return
    chunks = chunk_lines(text.split("\n"))
    if chunks:
        # The path is part of every chunk: file names say a lot about what code does.
        header = rel.replace("/", " ") + "\n"
        embedded = project.embedder.embed([header + chunk.text for chunk in chunks])
        vectors.replace_file(rel, [(chunk.start, chunk.end) for chunk in chunks], embedded)
    else:
        vectors.remove_file(rel)
    project.vectors_dirty = True


def _remove_vectors(project: Project, rel: str) -> None:
    vectors = project.vectors
    if vectors is None:
        project.pending_vector_paths.add(rel)
    elif vectors.remove_file(rel):
        project.vectors_dirty = True


def embed_paths(project: Project, rels: list[str]) -> None:
    """Embed these files again from disk (after the vector index was reloaded)."""
    for rel in rels:
        state = project.manifest.files.get(rel) if project.manifest else None
        source = read_source(project.path / rel) if state is not None else None
        if source is None or source.text is None or state.status != STATUS_INDEXED:
            _remove_vectors(project, rel)
        else:
            _embed(project, rel, source.text)


def rebuild_vectors(project: Project) -> VectorIndex:
    """A new vector index of every indexed file (when the saved one cannot be trusted)."""
    vectors = VectorIndex(project.embedder.dim, project.embedder.name)
    project.set_vectors(vectors)
    files = project.manifest.files if project.manifest else {}
    embed_paths(project, [rel for rel, s in files.items() if s.status == STATUS_INDEXED])
    project.pending_vector_paths.clear()
    project.vectors_dirty = True
    return vectors


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
    files = len(project.manifest.files) if project.manifest else 0
    previous = project.progress
    return IndexProgress(files, files, previous.bytes_done, "ready")


def _report(
    project: Project, on_progress: ProgressCallback | None, progress: IndexProgress
) -> None:
    project.set_progress(progress)
    if on_progress is not None:
        try:
            on_progress(progress)
        except Exception:  # a broken progress display must not stop indexing
            log.exception("progress callback failed")
