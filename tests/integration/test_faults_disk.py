"""A really full disk under LEINDEX_HOME: a small tmpfs the test mounts (skipped where it
cannot mount, e.g. without root). Indexing stops with a message instead of failing, what was
committed stays searchable, and after space is freed a refresh indexes the rest."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.index import Engine, indexer
from tests.integration.corpus import UNIQUE_FILE, UNIQUE_WORD, write_corpus

SMALL_FS_MB = 3


@pytest.fixture
def small_home(tmp_path: Path):
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SMALL_FS_MB}m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point / "home"
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _corpus_bigger_than_the_disk(root: Path) -> Path:
    write_corpus(root, modules=20)
    generated = root / "zz_generated"  # walked after pkg/, so pkg/ is committed first
    generated.mkdir()
    for n in range(60):
        (generated / f"gen_{n:02d}.py").write_text(
            "".join(
                f"def generated_{n}_{i}(value_{i}):\n    return value_{i} * {i}\n"
                for i in range(800)
            )
        )
    return root


def test_a_full_disk_stops_indexing_with_a_note_and_keeps_the_committed_part(
    small_home, tmp_path, caplog, monkeypatch
):
    # Batches of 64 KB, so the package is committed in batches before the disk fills up.
    monkeypatch.setattr(indexer, "batch_bytes_for", lambda heap_bytes: 64 * 1024)
    corpus = _corpus_bigger_than_the_disk(tmp_path / "corpus")
    engine = Engine(home=small_home, watch_files=False)
    try:
        project = engine.add_project(corpus)  # does not raise

        assert project.ready.is_set()
        assert "disk" in project.index_note and "is full" in project.index_note
        assert "is full" in caplog.text
        response = engine.search(UNIQUE_WORD)
        assert {hit.path for hit in response.hits} == {UNIQUE_FILE}
        assert any("is full" in note for note in response.notes)
        assert 0 < len(project.manifest.files) < 20 + 2 + 60

        remount = ["mount", "-o", "remount,size=64m", str(small_home.parent)]
        subprocess.run(remount, check=True)  # space freed
        engine.remove_project(project.name)  # what `refresh_project` does
        again = engine.add_project(corpus)
        assert again.index_note == "" and len(again.manifest.files) == 20 + 2 + 60
        assert {h.path for h in engine.search("generated_59_799").hits} == {
            "zz_generated/gen_59.py"
        }
    finally:
        engine.close()  # its own save may fail too: logged, not raised
