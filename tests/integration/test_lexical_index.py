"""The lexical side of hybrid search: chunk documents in the full-text index, BM25 with OR."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import tantivy

from engine.index import Engine, searcher
from engine.index.fulltext import FULLTEXT_DIR
from tests.conftest import write_small_corpus


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_small_corpus(tmp_path / "corpus")


@pytest.fixture
def engine(tmp_leindex_home: Path):
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    yield engine
    engine.close()


def test_a_question_matches_code_by_stemmed_sub_tokens(engine, corpus):
    project = engine.add_project(corpus)
    # No identifier is spelt like this: "connections" -> connect, "opening" -> open.
    hits = searcher.lexical_hits(project, "opening HTTP connections to a host", 3)
    assert (hits[0].path, hits[0].line) == ("src/http_client.py", 4)


def test_any_word_may_match(engine, corpus):
    project = engine.add_project(corpus)
    hits = searcher.lexical_hits(project, "parse zebrafish quantum ledger", 3)
    assert [hit.path for hit in hits] == ["src/parser.py"]


def test_a_query_of_stop_words_and_punctuation_finds_nothing(engine, corpus):
    project = engine.add_project(corpus)
    assert searcher.lexical_hits(project, "the of -> ::", 5) == []


def test_a_changed_file_replaces_its_chunks_and_a_deleted_one_loses_them(engine, corpus):
    project = engine.add_project(corpus)
    (corpus / "src" / "parser.py").write_text("def tokenize_zebrafish_names():\n    pass\n")
    engine.update_files(project.name, ["src/parser.py"])
    assert [h.path for h in searcher.lexical_hits(project, "zebrafish", 5)] == ["src/parser.py"]
    assert searcher.lexical_hits(project, "argparse", 5) == []
    (corpus / "src" / "parser.py").unlink()
    engine.update_files(project.name, ["src/parser.py"])
    assert searcher.lexical_hits(project, "zebrafish", 5) == []


def test_the_chunks_persist_across_a_restart(tmp_leindex_home, corpus):
    first = Engine(home=tmp_leindex_home, watch_files=False)
    first.add_project(corpus)
    first.close()
    second = Engine(home=tmp_leindex_home, watch_files=False)
    try:
        project = second.add_project(corpus)
        assert not project.fulltext.created  # opened, not rebuilt
        hits = searcher.lexical_hits(project, "command line arguments", 3)
        assert hits[0].path == "src/parser.py"
    finally:
        second.close()


def _write_old_schema_index(directory: Path) -> None:
    """A full-text index as written before the `lexical` field existed."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("path_id", stored=True, tokenizer_name="raw")
    builder.add_text_field("path", stored=False)
    builder.add_text_field("content", stored=False)
    index = tantivy.Index(builder.build(), path=str(directory))
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    writer.add_document(tantivy.Document(path_id="src/parser.py", content="argparse"))
    writer.commit()
    writer.wait_merging_threads()


def test_an_index_with_the_old_schema_is_set_aside_and_rebuilt(tmp_leindex_home, corpus, caplog):
    first = Engine(home=tmp_leindex_home, watch_files=False)
    index_dir = first.add_project(corpus).index_dir
    first.close()
    directory = index_dir / FULLTEXT_DIR
    for child in directory.iterdir():
        child.unlink()
    _write_old_schema_index(directory)

    second = Engine(home=tmp_leindex_home, watch_files=False)
    try:
        with caplog.at_level(logging.WARNING):
            project = second.add_project(corpus)
        assert "rebuilding the full-text index" in caplog.text
        assert [p.name for p in index_dir.iterdir() if p.name.startswith("fulltext.corrupt.")]
        assert project.fulltext.created
        hits = searcher.lexical_hits(project, "command line arguments", 3)
        assert hits[0].path == "src/parser.py"
        assert [h.path for h in second.search("MemoryTracker").hits] == ["src/engine_core.py"]
    finally:
        second.close()


def test_hybrid_puts_the_function_a_question_describes_first(engine, corpus):
    engine.add_project(corpus)
    question = "read the resident set size of this process from proc"
    hybrid = engine.search(question, mode="hybrid", limit=3).hits
    assert hybrid[0].path == "src/engine_core.py"
    assert "read_resident_set_size" in hybrid[0].text


def test_a_pasted_page_of_code_is_searched_by_its_first_terms(engine, corpus):
    project = engine.add_project(corpus)
    page = "parse command line arguments " + " ".join(f"word{n}x" for n in range(5000))
    hits = searcher.lexical_hits(project, page, 3)
    assert hits[0].path == "src/parser.py"


def test_hybrid_literal_shows_the_exact_matching_line(engine, corpus):
    engine.add_project(corpus)
    hits = engine.search("'/proc/self/statm'", mode="hybrid", literal=True).hits
    assert (hits[0].path, hits[0].line) == ("src/engine_core.py", 9)


def test_hybrid_reads_code_as_words_without_a_syntax_error(engine, corpus):
    engine.add_project(corpus)
    hits = engine.search("socket.create_connection((host", mode="hybrid", limit=3).hits
    assert hits[0].path == "src/http_client.py"
