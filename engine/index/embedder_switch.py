"""Changing a project's embedder: new vectors are built in the background, then swapped in.

While the new vectors are built, searches keep using the old vectors with the old embedder
(full-text is not touched at all); `Project.vectors_rebuilding` says a rebuild is under way.
Files re-indexed meanwhile (the watcher) are embedded again with the new model at the swap.
"""

from __future__ import annotations

import logging
import threading

from engine.index.embed import Embedder
from engine.index.manifest import STATUS_INDEXED
from engine.index.project import Project
from engine.index.vectors import VectorIndex
from engine.index.walker import read_source

log = logging.getLogger(__name__)


def _embed_into(vectors: VectorIndex, embedder: Embedder, project: Project, rel: str) -> None:
    source = read_source(project.path / rel)
    if source is None or source.text is None:
        vectors.remove_file(rel)
        return
    chunks = project.pieces_to_embed(rel, source.text, embedder)
    if not chunks:
        vectors.remove_file(rel)
        return
    embedded = embedder.embed([chunk.text for chunk in chunks])
    vectors.replace_file(rel, [(chunk.start, chunk.end) for chunk in chunks], embedded)


def rebuild_with(project: Project, embedder: Embedder) -> bool:
    """Build `project`'s vectors with `embedder` and swap them in; False if it was closed."""
    manifest = project.manifest
    files = dict(manifest.files) if manifest is not None else {}
    vectors = VectorIndex(embedder.dim, embedder.name)
    for rel, state in files.items():
        if project.closed:
            return False
        if state.status == STATUS_INDEXED:
            _embed_into(vectors, embedder, project, rel)
    with project.lock:
        if project.closed or getattr(project, "rebuild_target", embedder.name) != embedder.name:
            return False  # closed, or switched again meanwhile: the newer rebuild wins
        now = dict(project.manifest.files) if project.manifest is not None else {}
        for rel in set(now) | set(files):
            if now.get(rel) != files.get(rel):
                state = now.get(rel)
                if state is not None and state.status == STATUS_INDEXED:
                    _embed_into(vectors, embedder, project, rel)
                else:
                    vectors.remove_file(rel)
        vectors.trim_capacity()
        project.embedder = embedder
        project.set_vectors(vectors)
        project.pending_vector_paths.clear()
        project.vectors_dirty = True
        if project.manifest is not None:
            project.manifest.embedder = embedder.name
        try:
            project.persist()
        except OSError as error:
            log.warning("%s: new vectors not saved: %s", project.name, error)
    return True


def start_rebuild(project: Project, embedder: Embedder) -> threading.Thread:
    """Run `rebuild_with` on a daemon thread; `project.vectors_rebuilding` is set meanwhile."""
    project.vectors_rebuilding = True
    project.rebuild_target = embedder.name

    def run() -> None:
        try:
            rebuild_with(project, embedder)
        except Exception:  # noqa: BLE001 - a failed rebuild keeps the old vectors
            log.exception("%s: rebuilding vectors for %s failed", project.name, embedder.name)
        finally:
            if project.rebuild_target == embedder.name:
                project.vectors_rebuilding = False

    thread = threading.Thread(target=run, name=f"leindex-embed-{project.name}", daemon=True)
    thread.start()
    return thread
