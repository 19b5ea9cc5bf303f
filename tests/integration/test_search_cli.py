"""`engine.api` search operations and the `leindex search` command."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import api
from engine.index import Engine, set_engine
from engine.index.vectors import VECTORS_META_FILE
from leindex_tui.cli import main
from tests.conftest import write_small_corpus


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_small_corpus(tmp_path / "corpus")


@pytest.fixture
def engine(tmp_leindex_home: Path):
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    set_engine(engine)
    yield engine
    set_engine(None)
    engine.close()


def test_api_index_search_list_and_priority(engine, corpus):
    seen = []
    indexed = api.index_project(str(corpus), on_progress=seen.append)
    assert indexed["success"] and indexed["project"]["indexed"]
    assert seen[-1].phase == "ready"
    result = api.search("MemoryTracker", project="corpus")
    assert result["count"] == 1 and result["hits"][0]["path"] == "src/engine_core.py"
    assert result["hits"][0]["line"] == 1 and not result["from_cache"]
    assert api.search("MemoryTracker", project="corpus")["from_cache"]
    listing = api.list_projects()["projects"]
    assert [p["name"] for p in listing] == ["corpus"] and listing[0]["files"] > 0
    # A first index keeps the vectors it built: small, so searched exactly.
    assert (listing[0]["vector_search"], listing[0]["semantic_note"]) == ("exact", "")
    changed = api.set_project_priority("corpus", "critical")
    assert (changed["previous_priority"], changed["priority"]) == ("MEDIUM", "CRITICAL")
    assert api.list_projects()["projects"][0]["priority"] == "CRITICAL"


def test_api_bad_input_raises_api_error(engine, corpus, tmp_path):
    api.index_project(str(corpus))
    cases = [
        lambda: api.index_project(str(tmp_path / "missing")),
        lambda: api.index_project(str(corpus), priority="urgent"),
        lambda: api.search("x", mode="regex"),
        lambda: api.search("x", project="nope"),
        lambda: api.search("foo AND ("),
        lambda: api.search("x", limit=0),
        lambda: api.set_project_priority("nope", "LOW"),
    ]
    for case in cases:
        with pytest.raises(api.ApiError):
            case()


def test_api_search_waits_for_a_first_index(engine, corpus):
    api.index_project(str(corpus), wait=False)
    result = api.search("open_http_connection", wait_timeout_seconds=30)
    assert result["still_indexing"] == [] and result["count"] == 1


def test_cli_prints_rg_style_lines(corpus, monkeypatch, capsys):
    monkeypatch.chdir(corpus)
    assert main(["search", "read_resident_set_size"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "src/engine_core.py:8: def read_resident_set_size():",
        "src/engine_core.py:5:         return read_resident_set_size() / 1024",
    ]


def test_cli_exit_status_for_no_match_and_bad_query(corpus, monkeypatch, capsys):
    monkeypatch.chdir(corpus)
    assert main(["search", "nothing_matches_this"]) == 1
    assert main(["search", "foo AND ("]) == 2
    assert "invalid query" in capsys.readouterr().err
    assert main(["search", "x", "--project", "no-such-project"]) == 2
    assert main(["search", "x", "--limit", "0"]) == 2


def test_cli_modes_literal_and_project_by_name(corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["search", "x = 1", "--literal", "--project", str(corpus)]) == 1
    assert main(["search", "/proc/self", "--literal", "--project", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("corpus/src/engine_core.py:9: ")
    code = main(["search", "http connection", "--mode", "hybrid", "--project", "corpus"])
    assert code == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("corpus/src/http_client.py:")


def test_cli_reuses_the_index_on_disk(corpus, monkeypatch, tmp_leindex_home):
    monkeypatch.chdir(corpus)
    assert main(["search", "MemoryTracker"]) == 0
    index_dir = tmp_leindex_home / "indexes" / "corpus"
    # Every vector save rewrites the sidecar (it names the set of arrays it saved).
    sidecar = index_dir / VECTORS_META_FILE
    written = {
        path: path.stat().st_mtime_ns for path in (index_dir / "fulltext" / "meta.json", sidecar)
    }
    assert main(["search", "argparse"]) == 0
    # Nothing changed, so the second run committed nothing and saved no vectors.
    assert {path: path.stat().st_mtime_ns for path in written} == written
    (corpus / "src" / "extra.py").write_text("extra_marker = 1\n")
    assert main(["search", "extra_marker"]) == 0
    # Lazy vectors: a full-text run does not load (or rewrite) the vector index; the first
    # semantic search embeds the changed file.
    assert sidecar.stat().st_mtime_ns == written[sidecar]
    assert main(["search", "extra marker", "--mode", "semantic"]) == 0
    assert sidecar.stat().st_mtime_ns != written[sidecar]


def test_cli_answers_a_big_project_from_its_saved_index_then_says_it_changed(
    corpus, monkeypatch, tmp_leindex_home, capsys
):
    from leindex_tui.commands import search as search_command

    monkeypatch.chdir(corpus)
    assert main(["search", "MemoryTracker"]) == 0
    monkeypatch.setattr(search_command, "ANSWER_BEFORE_SYNC_FILES", 1)  # every project is big
    # The sync waits for the search to have answered (it could otherwise win the race).
    import threading

    from engine.index import indexer

    answered = threading.Event()
    real_search, real_sync = api.search, indexer.sync

    def search_then_release(*args, **kwargs):
        try:
            return real_search(*args, **kwargs)
        finally:
            answered.set()

    def sync_after_search(*args, **kwargs):
        answered.wait(10)
        return real_sync(*args, **kwargs)

    monkeypatch.setattr(api, "search", search_then_release)
    monkeypatch.setattr(indexer, "sync", sync_after_search)
    (corpus / "src" / "late.py").write_text("late_marker = 1\n")
    capsys.readouterr()
    assert main(["search", "late_marker"]) == 1  # answered before the sync saw the file
    assert "changed since its last index" in capsys.readouterr().err
    answered.clear()
    assert main(["search", "late_marker"]) == 0  # the sync finished before that run exited
    assert "changed" not in capsys.readouterr().err
