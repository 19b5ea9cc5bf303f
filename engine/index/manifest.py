"""The manifest: what each indexed file looked like (mtime, size) when it was indexed.

On open, the walk is compared with it so that only changed, added or deleted files are
indexed again. It is data (JSON), validated key by key; a bad one means a rebuild.

Format (version 2): two lines of JSON. The first is a small header (version, project path,
embedder, file count), so that what an index was built for is read without the rest; the
second holds the files as columns (`paths`, `mtime_ns`, `sizes`, and the indexes of skipped
and vectors-pending files), which parse and check several times faster than one object per
file: a reopened 78k-file project reads its manifest in about 60 ms instead of 220 ms.
Version 1 (one object, `files: {path: [mtime_ns, size, status]}`) is still read; the next
save writes version 2.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any, NamedTuple

from engine.atomic import atomic_write_text
from engine.index.walker import FileEntry

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 2
_READABLE_VERSIONS = (1, 2)
STATUS_INDEXED = "indexed"
# Files seen but not indexed (binary); remembered so an unchanged one is not read again.
STATUS_SKIPPED = "skipped"


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the file and what is wrong."""


class FileState(NamedTuple):
    """A file as indexed: identity (mtime, size) and whether it went into the index.

    A tuple, not a dataclass: tens of thousands are built on every open, at C speed."""

    mtime_ns: int
    size: int
    status: str = STATUS_INDEXED


@dataclass(frozen=True)
class ManifestHeader:
    """What an index was built for, read from the manifest's first line."""

    version: int
    project_path: str
    embedder: str


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
        files = dict(self.files)
        for rel in unsettled:
            if rel not in files:
                files[rel] = FileState(0, -1, STATUS_INDEXED)  # matches no file on disk
        paths = list(files)
        position = {rel: index for index, rel in enumerate(paths)}
        states = files.values()
        header = {
            "version": MANIFEST_VERSION,
            "project_path": self.project_path,
            "embedder": self.embedder,
            "files": len(paths),
        }
        body = {
            "paths": paths,
            "mtime_ns": [state.mtime_ns for state in states],
            "sizes": [state.size for state in states],
            "skipped": [i for i, state in enumerate(states) if state.status == STATUS_SKIPPED],
            "vectors_pending": sorted(position[rel] for rel in unsettled if rel in self.files),
        }
        compact = {"separators": (",", ":")}
        atomic_write_text(path, f"{json.dumps(header, **compact)}\n{json.dumps(body, **compact)}\n")

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read and validate; raises `ManifestError` (missing, not JSON, wrong shape)."""
        text = _read(path)
        first, _, rest = text.partition("\n")
        header = _header(path, _parse(path, first if rest.strip() else text))
        if header.version == 1:
            return _load_version_1(path, _parse(path, text), header)
        body = _parse(path, rest)
        if not isinstance(body, dict):
            raise ManifestError(f"{path}: the file list is not an object")
        paths = _column(path, body, "paths", str)
        mtimes = _column(path, body, "mtime_ns", int)
        sizes = _column(path, body, "sizes", int)
        if not len(paths) == len(mtimes) == len(sizes):
            raise ManifestError(f"{path}: paths, mtime_ns and sizes differ in length")
        statuses = [STATUS_INDEXED] * len(paths)
        for index in _column(path, body, "skipped", int, len(paths)):
            statuses[index] = STATUS_SKIPPED
        pending = _column(path, body, "vectors_pending", int, len(paths))
        rows = zip(mtimes, sizes, statuses, strict=True)
        # tuple.__new__ straight from C: FileState._make is a Python call per file.
        files = dict(zip(paths, map(tuple.__new__, repeat(FileState), rows), strict=True))
        manifest = cls(header.project_path, header.embedder, files)
        manifest.vectors_pending = {paths[index] for index in pending}
        return manifest

    @staticmethod
    def read_header(path: Path) -> ManifestHeader:
        """The project path and embedder an index was built for, without reading its files
        (for a version 1 manifest, the whole file is read)."""
        try:
            with open(path, encoding="utf-8") as handle:
                first = handle.readline()
        except FileNotFoundError:
            raise ManifestError(f"{path}: missing") from None
        except (OSError, ValueError) as error:
            raise ManifestError(f"{path}: cannot be read: {error}") from None
        try:
            return _header(path, json.loads(first))
        except (ValueError, ManifestError):
            return _header(path, _parse(path, _read(path)))


def _read(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: missing") from None
    except (OSError, ValueError) as error:
        raise ManifestError(f"{path}: cannot be read: {error}") from None


def _parse(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise ManifestError(f"{path}: cannot be read: {error}") from None


def _header(path: Path, document: Any) -> ManifestHeader:
    if not isinstance(document, dict) or document.get("version") not in _READABLE_VERSIONS:
        raise ManifestError(f"{path}: not a version {MANIFEST_VERSION} manifest")
    for key in ("project_path", "embedder"):
        if not isinstance(document.get(key), str):
            raise ManifestError(f"{path}: key {key!r} is missing or not a string")
    return ManifestHeader(document["version"], document["project_path"], document["embedder"])


def _column(path: Path, body: dict, key: str, kind: type, below: int | None = None) -> list:
    """`body[key]` if it is a list of `kind` (of indexes under `below`, if given)."""
    values = body.get(key)
    # `type(v) is int` also refuses booleans, which JSON's true/false would be.
    if not isinstance(values, list) or not set(map(type, values)) <= {kind}:
        raise ManifestError(f"{path}: key {key!r} is not a list of {kind.__name__}")
    if below is not None and values and not (min(values) >= 0 and max(values) < below):
        raise ManifestError(f"{path}: key {key!r} has an index out of range")
    return values


def _load_version_1(path: Path, document: dict, header: ManifestHeader) -> Manifest:
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
    manifest = Manifest(header.project_path, header.embedder, files)
    manifest.vectors_pending = {rel for rel in pending if rel in files}
    return manifest
