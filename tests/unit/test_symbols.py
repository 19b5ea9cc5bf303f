"""Symbol definitions: extraction per language, the incremental table, definition-first ranking,
`sym:` queries, the literal fallback for code-like queries, and the symbol API/MCP tools."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp import Client

from engine import api
from engine.api import ApiError
from engine.index import Engine, set_engine
from engine.index.errors import QuerySyntaxError
from engine.index.fulltext import MIN_WRITER_HEAP, FullTextIndex
from engine.index.symbols import SYMBOLS_FILE, TABLE_CONSTANTS, SymbolStore, extract_symbols
from leindex_tui import mcp_tools


def _names(path: str, text: str) -> set[tuple[str, str]]:
    return {(s.name, s.kind) for s in extract_symbols(path, text)}


def test_python_definitions_with_kinds_and_lines():
    text = "class A:\n    def m(self):\n        pass\n\n\ndef f():\n    return 1\n"
    symbols = extract_symbols("a.py", text)
    assert {(s.name, s.kind) for s in symbols} == {
        ("A", "class"),
        ("m", "method"),
        ("f", "function"),
    }
    f = next(s for s in symbols if s.name == "f")
    assert (f.line, f.end_line) == (6, 7)


def test_c_functions_structs_macros_types_but_not_prototypes():
    text = (
        "#define MAX(a, b) ((a) > (b) ? (a) : (b))\n"
        "#define LIMIT 10\n"
        "struct task_struct { int pid; };\n"
        "void *kmalloc_array(int n, int size);\n"
        "void *kmalloc_array(int n, int size) { return 0; }\n"
        "typedef unsigned long pgoff_t;\n"
    )
    found = _names("sched.c", text)
    assert {("MAX", "macro"), ("LIMIT", "macro"), ("task_struct", "struct")} <= found
    assert {("kmalloc_array", "function"), ("pgoff_t", "type")} <= found
    lines = [s.line for s in extract_symbols("sched.c", text) if s.name == "kmalloc_array"]
    assert lines == [5]  # the definition, not the prototype on line 4


def test_javascript_typescript_go_rust():
    js = _names("a.js", "function foo() {}\nclass Bar { baz() {} }\n")
    assert {("foo", "function"), ("Bar", "class"), ("baz", "method")} <= js
    ts = _names(
        "a.ts", "interface Shape { x: number }\nfunction area(s: Shape): number { return 1 }\n"
    )
    assert {("Shape", "interface"), ("area", "function")} <= ts
    go = _names("a.go", "package m\nfunc Foo() {}\ntype T struct{}\nfunc (t T) M() {}\n")
    assert {("Foo", "function"), ("T", "type"), ("M", "method")} <= go
    rs = _names("a.rs", "fn foo() {}\nstruct S;\nmacro_rules! mm { () => {} }\n")
    assert {("foo", "function"), ("S", "struct"), ("mm", "macro")} <= rs


def test_unsupported_or_broken_input_gives_no_symbols_and_no_error():
    assert extract_symbols("notes.txt", "def f(): pass") == []
    assert isinstance(extract_symbols("bad.py", "def (((\x00\udcff"), list)


def _project(root: Path) -> Path:
    root.mkdir(parents=True)
    # Many mentions of parse_config in a file that does not define it, and one definition.
    (root / "callers.py").write_text(
        "from conf import parse_config\n\n"
        + "\n".join(f"value_{i} = parse_config('f{i}')  # parse_config" for i in range(30))
        + "\n"
    )
    (root / "conf.py").write_text(
        "import os\n\n\ndef parse_config(path):\n    return open(path).read()\n\n\n"
        "class ConfigError(Exception):\n    pass\n"
    )
    (root / "vec.cpp").write_text("std::vector<int> values;\n")
    return root


@pytest.fixture
def engine(tmp_path, tmp_leindex_home):
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    set_engine(engine)
    engine.add_project(_project(tmp_path / "proj"))
    yield engine
    engine.close()
    set_engine(None)


def test_a_query_naming_a_symbol_lists_its_definition_first(engine):
    hits = engine.search("parse_config", mode="fulltext", limit=10).hits
    assert (hits[0].path, hits[0].line) == ("conf.py", 4)
    assert any(hit.path == "callers.py" for hit in hits[1:])
    hybrid = engine.search("parse_config", mode="hybrid", limit=10).hits
    assert (hybrid[0].path, hybrid[0].line) == ("conf.py", 4)


def test_sym_query_returns_definitions_only(engine):
    hits = engine.search("sym:parse_config", mode="fulltext", limit=10).hits
    assert [(hit.path, hit.line) for hit in hits] == [("conf.py", 4)]
    prefix = engine.search("sym:Config*", mode="fulltext", limit=10).hits
    assert [(hit.path, hit.line) for hit in prefix] == [("conf.py", 8)]
    assert engine.search("sym:nothing_like_this", limit=10).hits == ()


def test_symbols_follow_file_changes(engine, tmp_path):
    root = tmp_path / "proj"
    (root / "conf.py").write_text("def load_settings():\n    pass\n")
    engine.update_files("proj", ["conf.py"])
    assert api.find_symbol("parse_config")["count"] == 0
    assert api.find_symbol("load_settings")["symbols"][0]["line"] == 1
    (root / "conf.py").unlink()
    engine.update_files("proj", ["conf.py"])
    assert api.find_symbol("load_settings")["count"] == 0


def test_code_that_does_not_parse_is_searched_as_a_literal_with_a_note(engine):
    result = api.search("std::vector<int>", mode="fulltext")
    assert [(hit["path"], hit["line"]) for hit in result["hits"]] == [("vec.cpp", 1)]
    assert len(result["notes"]) == 1 and "literal" in result["notes"][0]
    assert api.search("parse_config", mode="fulltext")["notes"] == []


def test_explicit_syntax_errors_name_the_column_and_a_hint(engine):
    with pytest.raises(ApiError) as raised:
        api.search("parse_config AND (os", mode="fulltext")
    assert "column 18" in str(raised.value) and "hint" in str(raised.value)
    with pytest.raises(QuerySyntaxError) as error:
        engine.search('path:conf AND "open', mode="fulltext")
    assert error.value.position == 14 and error.value.hint


def test_outline_symbol_and_references_api(engine):
    outline = api.get_file_outline("conf.py")
    assert [(s["name"], s["kind"], s["line"]) for s in outline["symbols"]] == [
        ("parse_config", "function", 4),
        ("ConfigError", "class", 8),
    ]
    assert api.find_symbol("onfig", prefix=True)["count"] == 0  # a prefix, not an infix
    assert api.find_symbol("Config", prefix=True, kind="class")["symbols"][0]["line"] == 8
    refs = api.find_references("parse_config")
    assert refs["definitions"] == 1 and refs["count"] > 5
    assert all(ref["path"] != "conf.py" for ref in refs["references"])
    with pytest.raises(ApiError, match="outside"):
        api.get_file_outline("../etc/passwd")
    with pytest.raises(ApiError, match="not an indexed file"):
        api.get_file_outline("missing.py")
    with pytest.raises(ApiError, match="unknown project"):
        api.find_symbol("x", project="nope")


async def test_symbol_tools_over_mcp(engine):
    async with Client(mcp_tools.build_server()) as client:
        outline = await client.call_tool("get_file_outline", {"path": "conf.py"})
        found = await client.call_tool("find_symbol", {"name": "parse_config", "project": "proj"})
        refs = await client.call_tool("find_references", {"name": "ConfigError"})
        bad = await client.call_tool("get_file_outline", {"path": "../../x"})
        wrong = await client.call_tool("find_symbol", {"name": 3})
    assert json.loads(outline.content[0].text)["count"] == 2
    assert json.loads(found.content[0].text)["symbols"][0]["path"] == "conf.py"
    assert json.loads(refs.content[0].text)["definitions"] == 1
    assert bad.is_error and "outside" in bad.content[0].text
    assert wrong.is_error and "name" in wrong.content[0].text


def test_kmalloc_array_behind_an_attribute_macro_is_a_definition():
    text = (
        "static inline __alloc_size(1, 2) void *kmalloc_array(size_t n, size_t size,"
        " gfp_t flags)\n{\n\treturn NULL;\n}\n"
    )
    found = [(s.name, s.kind, s.line) for s in extract_symbols("include/linux/slab.h", text)]
    assert found == [("kmalloc_array", "function", 1)]


def test_include_guards_are_not_macros_but_constants_are():
    text = "#ifndef _LINUX_SLAB_H\n#define _LINUX_SLAB_H\n#define SLAB_MIN 8\n#define NO_VALUE\n"
    names = [s.name for s in extract_symbols("slab.h", text)]
    assert names == ["SLAB_MIN", "NO_VALUE"]


def test_symbol_store_finds_names_case_insensitively_exact_case_first(tmp_path):
    store = SymbolStore(tmp_path)
    store.begin()
    store.put("a.c", "int Foo_bar(void) { return 0; }\nint foo_bar(void) { return 1; }\n")
    store.put("b.c", "int foo_barn(void) { return 0; }\n")
    store.commit()
    assert [(s.name, s.path) for s in store.find("foo_bar")] == [
        ("foo_bar", "a.c"),
        ("Foo_bar", "a.c"),
    ]
    assert [s.name for s in store.find("FOO_B", prefix=True)] == ["Foo_bar", "foo_bar", "foo_barn"]
    store.begin()
    store.delete("a.c")
    store.commit()
    assert [s.name for s in store.find("foo_bar", prefix=True)] == ["foo_barn"]
    assert store.outline("a.c") == []


def test_an_old_schema_symbol_file_is_rebuilt_and_the_project_reindexed(tmp_path):
    old = sqlite3.connect(tmp_path / SYMBOLS_FILE)
    old.execute(
        "CREATE TABLE symbols (name TEXT NOT NULL, lname TEXT NOT NULL, kind TEXT NOT NULL,"
        " path TEXT NOT NULL, line INTEGER NOT NULL, end_line INTEGER NOT NULL)"
    )
    old.execute("INSERT INTO symbols VALUES ('old', 'old', 'function', 'x.c', 1, 1)")
    old.commit()
    old.close()
    store = SymbolStore(tmp_path)
    assert store.created
    assert store.count() == 0
    store.begin()
    store.put("x.c", "int fresh(void) { return 0; }\n")
    store.commit()
    store.close()
    reopened = SymbolStore(tmp_path)
    assert not reopened.created
    assert [s.name for s in reopened.find("fresh")] == ["fresh"]


def test_a_symbol_file_that_is_not_a_database_is_started_again(tmp_path, caplog):
    (tmp_path / SYMBOLS_FILE).write_bytes(b"not sqlite at all, " * 300)
    store = SymbolStore(tmp_path)
    assert store.created and store.count() == 0
    assert "unreadable" in caplog.text and str(tmp_path / SYMBOLS_FILE) in caplog.text
    assert (tmp_path / SYMBOLS_FILE).stat().st_mode & 0o777 == 0o600


# Opens the store in DIR once GO exists, writes one definition, and exits 0.
_RACER = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from engine.index.symbols import SymbolStore
directory, go, number = Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
while not go.exists():
    time.sleep(0.001)
store = SymbolStore(directory)
store.begin()
store.put(f"racer_{number}.c", f"int racer_{number}(void) {{ return 0; }}\\n")
store.commit()
store.close()
"""


def test_processes_opening_a_new_symbol_file_at_once_all_write_to_one_table(tmp_path):
    # Each used to find the file another had just created without its tables (version 0),
    # remove it, and make its own: "no such table: symbols" in the others.
    repo = Path(__file__).resolve().parents[2]
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(repo), str(tmp_path), str(go), str(number)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in range(6)
    ]
    time.sleep(1.0)  # all of them importing done, waiting for the start
    go.touch()
    for racer in racers:
        assert racer.wait(60) == 0, racer.stderr.read()
    store = SymbolStore(tmp_path)
    assert sorted(s.name for s in store.find("racer_", prefix=True)) == [
        f"racer_{number}" for number in range(6)
    ]


def test_a_full_text_index_without_its_symbol_file_is_marked_for_a_full_reindex(tmp_path):
    index = FullTextIndex(tmp_path / "fulltext", MIN_WRITER_HEAP)
    with index.batch() as batch:
        batch.put("x.c", "int fresh(void) { return 0; }\n")
    index.symbols.close()
    (tmp_path / SYMBOLS_FILE).write_bytes(b"")  # an unreadable, version-less file
    reopened = FullTextIndex(tmp_path / "fulltext", MIN_WRITER_HEAP)
    assert reopened.created


def _register_table(constants: int) -> str:
    lines = [f"#define mmREG_{i}_STATUS 0x{i:04x}" for i in range(constants)]
    lines += ["#define REG_FIELD(x) (((x) >> 4) & 0xf)", "#define REG_ALIAS mmREG_1_STATUS"]
    return "\n".join(lines) + "\n"


def test_a_table_of_numeric_constants_keeps_its_macros_but_not_its_constants():
    table = {s.name for s in extract_symbols("regs.h", _register_table(TABLE_CONSTANTS))}
    assert table == {"REG_FIELD", "REG_ALIAS"}
    few = {s.name for s in extract_symbols("regs.h", _register_table(TABLE_CONSTANTS - 1))}
    assert {"mmREG_0_STATUS", "REG_FIELD", "REG_ALIAS"} <= few
    assert len(few) == TABLE_CONSTANTS - 1 + 2


def test_a_constant_left_out_of_the_table_is_still_found_by_name(tmp_path, tmp_leindex_home):
    root = tmp_path / "drv"
    root.mkdir()
    (root / "regs.h").write_text(_register_table(TABLE_CONSTANTS + 10))
    (root / "use.c").write_text("int f(void) { return read(mmREG_7_STATUS); }\n")
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    set_engine(engine)
    try:
        engine.add_project(root)
        assert engine.registry.get("drv").fulltext.symbols.find("mmREG_7_STATUS") == []
        hits = engine.search("sym:mmREG_7_STATUS", limit=5).hits
        assert [(hit.path, hit.line) for hit in hits] == [("regs.h", 8)]
        plain = engine.search("mmREG_7_STATUS", limit=5).hits  # definitions first
        assert (plain[0].path, plain[0].line) == ("regs.h", 8)
        found = api.find_symbol("mmreg_7_status")  # case-insensitive, as the table
        assert [(s["name"], s["kind"], s["line"]) for s in found["symbols"]] == [
            ("mmREG_7_STATUS", "macro", 8)
        ]
        refs = api.find_references("mmREG_7_STATUS")
        assert refs["definitions"] == 1 and [r["path"] for r in refs["references"]] == ["use.c"]
        assert api.find_symbol("mmREG_7", prefix=True)["count"] == 0  # by name only
    finally:
        engine.close()
        set_engine(None)


def test_compact_packs_a_table_filled_in_random_name_order(tmp_path):
    import random

    store = SymbolStore(tmp_path)
    names = [f"name_{n:06d}_{'x' * 20}" for n in range(20_000)]
    random.Random(7).shuffle(names)
    store.begin()
    for start in range(0, len(names), 500):
        body = "".join(f"int {name}(void) {{ return 0; }}\n" for name in names[start : start + 500])
        store.put(f"f{start}.c", body)
    store.commit()
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = store.path.stat().st_size
    store.compact()
    assert store.path.stat().st_size < 0.95 * before
    assert store.count() == 20_000 and store.find("NAME_000123", prefix=True)


def test_a_first_index_compacts_its_symbols_once_and_a_reopen_does_not(
    tmp_path, tmp_leindex_home, monkeypatch
):
    calls = []
    monkeypatch.setattr(SymbolStore, "compact", lambda self: calls.append(self.path))
    root = _project(tmp_path / "proj")
    for _ in range(2):
        engine = Engine(home=tmp_leindex_home, watch_files=False)
        engine.add_project(root)
        engine.close()
    assert len(calls) == 1


def test_a_lexical_document_names_its_class_and_stresses_its_definitions_name(tmp_path):
    index = FullTextIndex(tmp_path / "fulltext", MIN_WRITER_HEAP)
    with index.batch() as batch:
        batch.put(
            "net.py",
            "class HttpClient:\n    retries = 3\n\n"
            "    def fetch(self, url):\n        return url\n\n"
            "    def close(self):\n        return None\n",
        )
        batch.put("other.py", "def helper(url):\n    return url.fetch()\n")
    # `http client` is said only by the class line, yet the method's document answers it.
    assert ("net.py", 4) in [(c.path, c.start) for c in index.lexical_search("http client", 5)]
    # `fetch` is used by helper's body but is fetch's name: the definition comes first.
    assert [(c.path, c.start) for c in index.lexical_search("fetch", 5)][0] == ("net.py", 4)
