"""The manifest: what each indexed file looked like (mtime, size) when it was indexed.

On open, the walk is compared with it so that only changed, added or deleted files are
indexed again. It is data (JSON), validated key by key; a bad one means a rebuild.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from engine.atomic import atomic_write_text
from engine.index.walker import FileEntry

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
STATUS_INDEXED = "indexed"
# Files seen but not indexed (binary); remembered so an unchanged one is not read again.
STATUS_SKIPPED = "skipped"


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True, slots=True)
class FileState:
    """A file as indexed: identity (mtime, size) and whether it went into the index."""

    mtime_ns: int
    size: int
    status: str = STATUS_INDEXED


@dataclass
class Manifest:
    """Per-file states plus the project path and embedder the index was built for."""

    project_path: str
    embedder: str
    files: dict[str, FileState] = field(default_factory=dict)
    # Indexed in full-text, vectors not yet written (as saved; the project tracks it live).
    vectors_pending: set[str] = field(default_factory=set)

    def changes(self, walked: list[FileEntry]) -> tuple[list[FileEntry], list[str]]:
        """Files to (re)index (new or changed) and paths to delete (gone from the walk)."""
        seen = set()
        changed = []
        for entry in walked:
            seen.add(entry.rel)
            state = self.files.get(entry.rel)
            if state is None or state.mtime_ns != entry.mtime_ns or state.size != entry.size:
                changed.append(entry)
        removed = [rel for rel in self.files if rel not in seen]
        return changed, removed

    def save(self, path: Path, unsettled: Collection[str] = ()) -> None:
        """Write atomically (0600).

        `unsettled` are files whose vectors on disk are not up to date. One still indexed is
        listed under `vectors_pending` (its full-text is current: the next open only embeds
        it); one that is gone is recorded so that the next open sees it as removed.
        """
        files = {
            rel: [state.mtime_ns, state.size, state.status] for rel, state in self.files.items()
        }
        pending = []
        for rel in sorted(unsettled):
            if rel in files:
                pending.append(rel)
            else:
                files[rel] = [0, -1, STATUS_INDEXED]  # matches no file on disk
        document = {
            "version": MANIFEST_VERSION,
            "project_path": self.project_path,
            "embedder": self.embedder,
            "files": files,
            "vectors_pending": pending,
        }
        atomic_write_text(path, json.dumps(document, separators=(",", ":")))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read and validate; raises `ManifestError` (missing, not JSON, wrong shape)."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ManifestError(f"{path}: missing") from None
        except (OSError, ValueError) as error:
            raise ManifestError(f"{path}: cannot be read: {error}") from None
        if not isinstance(document, dict) or document.get("version") != MANIFEST_VERSION:
            raise ManifestError(f"{path}: not a version {MANIFEST_VERSION} manifest")
        for key in ("project_path", "embedder"):
            if not isinstance(document.get(key), str):
                raise ManifestError(f"{path}: key {key!r} is missing or not a string")
        raw_files = document.get("files")
        if not isinstance(raw_files, dict):
            raise ManifestError(f"{path}: key 'files' is missing or not an object")
        files = {}
        for rel, row in raw_files.items():
            if not (
                isinstance(row, list)
                and len(row) == 3
                and all(isinstance(v, int) and not isinstance(v, bool) for v in row[:2])
                and row[2] in (STATUS_INDEXED, STATUS_SKIPPED)
            ):
                raise ManifestError(f"{path}: key files.{rel} has a malformed value: {row!r}")
            files[rel] = FileState(row[0], row[1], row[2])
        pending = document.get("vectors_pending", [])
        if not isinstance(pending, list) or not all(isinstance(rel, str) for rel in pending):
            raise ManifestError(f"{path}: key 'vectors_pending' is not a list of paths")
        manifest = cls(document["project_path"], document["embedder"], files)
        manifest.vectors_pending = {rel for rel in pending if rel in files}
        return manifest
