"""Search and indexing keep going past names, words and failures that used to stop them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine import api
from engine.index import Engine, set_engine
from engine.index import indexer as indexer_module
from engine.index.fulltext import FullTextBatch
from engine.index.worker_feed import WorkerFeed


@pytest.fixture
def engine(tmp_leindex_home: Path):
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    set_engine(engine)
    yield engine
    engine.close()
    set_engine(None)


def test_a_file_name_that_is_not_utf8_is_skipped_not_fatal(engine, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "good.py").write_text("def findable_function():\n    pass\n")
    with open(os.path.join(os.fsencode(project), b"bad\xff.py"), "wb") as handle:
        handle.write(b"x = 1\n")

    api.index_project(str(project))
    result = api.search("findable_function", literal=True)

    assert [hit["path"] for hit in result["hits"]] == ["good.py"]


def test_a_literal_word_of_forty_characters_is_found(engine, tmp_path: Path) -> None:
    word = "a" * 38 + "bc"  # 40 bytes: tantivy's tokenizer drops it, the line scan must not
    project = tmp_path / "proj"
    project.mkdir()
    (project / "long.py").write_text(f"value = '{word}'\n")

    api.index_project(str(project))
    result = api.search(f"value = '{word}'", literal=True)

    assert [(hit["path"], hit["line"]) for hit in result["hits"]] == [("long.py", 1)]


def test_search_does_not_wait_on_a_project_whose_first_index_failed(
    engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "broken"
    project.mkdir()
    (project / "a.py").write_text("x = 1\n")

    def fail(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(indexer_module, "open_project", fail)
    engine.index_project_async(project)

    result = api.search("x", wait_timeout_seconds=60)

    assert result["index_failed"] == ["broken"]
    assert result["still_indexing"] == []


def test_a_failed_batch_leaves_the_manifest_as_it_was(
    engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_dir = tmp_path / "proj"
    project_dir.mkdir()
    (project_dir / "a.py").write_text("first = 1\n")
    project = engine.add_project(project_dir)
    before = dict(project.manifest.files)
    (project_dir / "a.py").write_text("second_version = 2\n")

    def explode(*args, **kwargs):
        raise ValueError("tantivy said no")

    monkeypatch.setattr(FullTextBatch, "put_analysis", explode)
    with pytest.raises(ValueError):
        engine.update_files(project.name, ["a.py"])

    assert project.manifest.files == before


def test_a_failed_embedding_leaves_the_file_to_be_indexed_again(
    engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_dir = tmp_path / "proj"
    project_dir.mkdir()
    (project_dir / "a.py").write_text("first = 1\n")
    project = engine.add_project(project_dir)
    (project_dir / "a.py").write_text("second_version = 2\n")

    def explode(*args, **kwargs):
        raise ValueError("embedder said no")

    monkeypatch.setattr(WorkerFeed, "embed_in_process", explode)
    with pytest.raises(ValueError):
        engine.update_files(project.name, ["a.py"])

    # Full-text has the new text; the vectors do not, so a save records the file unsettled.
    assert [h.path for h in engine.search("second_version").hits] == ["a.py"]
    assert "a.py" in project.pending_vector_paths
