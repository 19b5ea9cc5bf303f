"""The manifest on disk: version 2's header line and columns, version 1 still read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.index.manifest import (
    STATUS_SKIPPED,
    FileState,
    Manifest,
    ManifestError,
)


def _manifest() -> Manifest:
    files = {"a.py": FileState(10, 3), "img.bin": FileState(11, 4, STATUS_SKIPPED)}
    return Manifest("/src/app", "hashing-v2-256", files)


def test_a_saved_manifest_reads_back_with_pending_and_unsettled_files(tmp_path: Path):
    path = tmp_path / "manifest.json"
    _manifest().save(path, unsettled={"a.py", "gone.py"})
    loaded = Manifest.load(path)
    assert loaded.project_path == "/src/app" and loaded.embedder == "hashing-v2-256"
    assert loaded.files == {
        "a.py": FileState(10, 3),
        "img.bin": FileState(11, 4, STATUS_SKIPPED),
        "gone.py": FileState(0, -1),  # matches no file: the next open removes it
    }
    assert loaded.vectors_pending == {"a.py"}


def test_the_header_is_the_first_line_and_is_read_alone(tmp_path: Path):
    path = tmp_path / "manifest.json"
    _manifest().save(path)
    first, body = path.read_text().splitlines()
    assert json.loads(first)["files"] == 2 and "paths" in json.loads(body)
    path.write_text(first + "\n" + body[: len(body) // 2])  # a damaged file list
    assert Manifest.read_header(path).embedder == "hashing-v2-256"
    with pytest.raises(ManifestError):
        Manifest.load(path)


def test_a_version_1_manifest_is_still_read(tmp_path: Path):
    path = tmp_path / "manifest.json"
    document = {
        "version": 1,
        "project_path": "/src/app",
        "embedder": "hashing-v2-256",
        "files": {"a.py": [10, 3, "indexed"], "img.bin": [11, 4, "skipped"]},
        "vectors_pending": ["a.py"],
    }
    path.write_text(json.dumps(document))
    loaded = Manifest.load(path)
    assert loaded.files == _manifest().files and loaded.vectors_pending == {"a.py"}
    assert Manifest.read_header(path).project_path == "/src/app"


@pytest.mark.parametrize(
    "body",
    [
        {"paths": ["a"], "mtime_ns": [1, 2], "sizes": [1]},
        {"paths": ["a"], "mtime_ns": [True], "sizes": [1]},
        {"paths": ["a"], "mtime_ns": [1], "sizes": [1], "skipped": [3]},
        {"paths": [7], "mtime_ns": [1], "sizes": [1]},
    ],
)
def test_a_malformed_file_list_is_refused(tmp_path: Path, body: dict):
    path = tmp_path / "manifest.json"
    header = {"version": 2, "project_path": "/p", "embedder": "e", "files": 1}
    body = {"skipped": [], "vectors_pending": [], **body}
    path.write_text(json.dumps(header) + "\n" + json.dumps(body) + "\n")
    with pytest.raises(ManifestError):
        Manifest.load(path)
