"""Symbol definitions: extracted with tree-sitter grammars and their tags queries, stored per
project in a small SQLite table next to the full-text index.

Each language's grammar ships a `queries/tags.scm` (the queries GitHub's code navigation uses):
a match captures the definition node (`@definition.KIND`) and its name (`@name`). C's tags do not
cover macros, so a query for `#define` is added. The table is updated in the same batches as the
full-text index (`FullTextBatch.put/delete/clear`), so it is incremental with the rest of it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.resources
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

SYMBOLS_FILE = "symbols.sqlite"
# A file with more definitions than this is generated code; keep the first ones.
MAX_SYMBOLS_PER_FILE = 5000
# Names longer than this are not identifiers anyone types.
_MAX_NAME_CHARS = 200

# extension -> (grammar module, language function, extra tags modules, extra query text)
_C_EXTRA = """
(preproc_def name: (identifier) @name) @definition.macro
(preproc_function_def name: (identifier) @name) @definition.macro
"""
_LANGUAGES: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    ".py": ("tree_sitter_python", "language", (), ""),
    ".pyi": ("tree_sitter_python", "language", (), ""),
    ".c": ("tree_sitter_c", "language", (), _C_EXTRA),
    ".h": ("tree_sitter_c", "language", (), _C_EXTRA),
    ".js": ("tree_sitter_javascript", "language", (), ""),
    ".mjs": ("tree_sitter_javascript", "language", (), ""),
    ".cjs": ("tree_sitter_javascript", "language", (), ""),
    ".jsx": ("tree_sitter_javascript", "language", (), ""),
    ".ts": ("tree_sitter_typescript", "language_typescript", ("tree_sitter_javascript",), ""),
    ".tsx": ("tree_sitter_typescript", "language_tsx", ("tree_sitter_javascript",), ""),
    ".go": ("tree_sitter_go", "language", (), ""),
    ".rs": ("tree_sitter_rust", "language", (), ""),
}
# tags.scm calls a struct a class; name it after the node it captured.
_NODE_KINDS = {
    "struct_specifier": "struct",
    "union_specifier": "union",
    "enum_specifier": "enum",
    "struct_item": "struct",
    "enum_item": "enum",
    "trait_item": "trait",
    "type_spec": "type",
}


@dataclass(frozen=True)
class Symbol:
    """One definition: its name, kind (function, method, class, struct, macro, type, ...),
    file (relative to the project root) and 1-based line span."""

    name: str
    kind: str
    path: str
    line: int
    end_line: int


class _Grammar:
    def __init__(self, module: str, function: str, extra_modules: tuple[str, ...], extra: str):
        import tree_sitter

        language = tree_sitter.Language(getattr(importlib.import_module(module), function)())
        sources = [_tags_text(name) for name in (*extra_modules, module)]
        sources.append(extra)
        self.parser = tree_sitter.Parser(language)
        self.queries = []
        for text in sources:
            if not text.strip():
                continue
            try:
                self.queries.append(tree_sitter.Query(language, text))
            except Exception:  # a tags file written for another grammar version
                continue
        self._cursor_class = tree_sitter.QueryCursor
        self.lock = threading.Lock()

    def extract(self, path: str, text: str) -> list[Symbol]:
        data = text.encode("utf-8", errors="replace")
        with self.lock:  # a Parser is not safe to share between threads
            tree = self.parser.parse(data)
        found: dict[tuple[str, int], Symbol] = {}
        for query in self.queries:
            for _pattern, captures in self._cursor_class(query).matches(tree.root_node):
                names = captures.get("name")
                if not names:
                    continue
                for capture, nodes in captures.items():
                    if not capture.startswith("definition."):
                        continue
                    node = nodes[0]
                    name = names[0].text.decode("utf-8", errors="replace")
                    if not name or len(name) > _MAX_NAME_CHARS:
                        continue
                    kind = _NODE_KINDS.get(node.type, capture.removeprefix("definition."))
                    if node.type == "function_declarator" and _is_prototype(node):
                        continue
                    if kind == "function" and _inside_class(node):
                        kind = "method"
                    line = node.start_point[0] + 1
                    found.setdefault(
                        (name, line), Symbol(name, kind, path, line, node.end_point[0] + 1)
                    )
                    if len(found) >= MAX_SYMBOLS_PER_FILE:
                        return sorted(found.values(), key=lambda s: (s.line, s.name))
        return sorted(found.values(), key=lambda s: (s.line, s.name))


def _inside_class(node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type in ("class_definition", "class_declaration", "class_body"):
            return True
        parent = parent.parent
    return False


def _is_prototype(node) -> bool:
    """A C `function_declarator` outside a function definition declares, not defines."""
    parent = node.parent
    while parent is not None and parent.type in ("pointer_declarator", "parenthesized_declarator"):
        parent = parent.parent
    return parent is None or parent.type != "function_definition"


def _tags_text(module: str) -> str:
    try:
        return (importlib.resources.files(module) / "queries" / "tags.scm").read_text("utf-8")
    except (OSError, ModuleNotFoundError):
        return ""


_grammars: dict[str, _Grammar | None] = {}
_grammars_lock = threading.Lock()


def _grammar_for(path: str) -> _Grammar | None:
    ext = os.path.splitext(path)[1].lower()
    spec = _LANGUAGES.get(ext)
    if spec is None:
        return None
    with _grammars_lock:
        if spec[0] + spec[1] not in _grammars:
            try:
                _grammars[spec[0] + spec[1]] = _Grammar(*spec)
            except Exception:  # grammar package missing or incompatible: no symbols
                _grammars[spec[0] + spec[1]] = None
        return _grammars[spec[0] + spec[1]]


def supported(path: str) -> bool:
    """Whether definitions are extracted from files named like `path`."""
    return os.path.splitext(path)[1].lower() in _LANGUAGES


def extract_symbols(path: str, text: str) -> list[Symbol]:
    """The definitions in `text` (the contents of `path`); [] for unsupported languages and on
    any parser failure (bad input never stops indexing)."""
    grammar = _grammar_for(path)
    if grammar is None:
        return []
    try:
        return grammar.extract(path, text)
    except Exception:
        return []


class SymbolStore:
    """The project's definitions table; writes are staged and committed with the full-text batch."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / SYMBOLS_FILE
        self.created = not self.path.exists()
        self._lock = threading.RLock()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS symbols (name TEXT NOT NULL, lname TEXT NOT NULL,"
            " kind TEXT NOT NULL, path TEXT NOT NULL, line INTEGER NOT NULL,"
            " end_line INTEGER NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS symbols_lname ON symbols (lname)")
        self._db.execute("CREATE INDEX IF NOT EXISTS symbols_path ON symbols (path)")
        self._in_batch = False

    # -- writes (inside a batch) --------------------------------------------------------------

    def begin(self) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._in_batch = True

    def commit(self) -> None:
        with self._lock:
            if self._in_batch:
                self._db.execute("COMMIT")
                self._in_batch = False

    def rollback(self) -> None:
        with self._lock:
            if self._in_batch:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                self._in_batch = False

    def delete(self, path: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM symbols WHERE path = ?", (path,))

    def put(self, path: str, text: str) -> list[Symbol]:
        """Replace the definitions of `path` with those in `text`; returns them."""
        symbols = extract_symbols(path, text)
        with self._lock:
            self._db.execute("DELETE FROM symbols WHERE path = ?", (path,))
            self._db.executemany(
                "INSERT INTO symbols VALUES (?, ?, ?, ?, ?, ?)",
                [(s.name, s.name.lower(), s.kind, s.path, s.line, s.end_line) for s in symbols],
            )
        return symbols

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM symbols")

    # -- reads --------------------------------------------------------------------------------

    def find(
        self, name: str, *, prefix: bool = False, kind: str | None = None, limit: int = 100
    ) -> list[Symbol]:
        """Definitions named `name` (case-sensitive matches before case-insensitive ones), or
        starting with it when `prefix`."""
        lname = name.lower()
        if prefix:
            escaped = lname.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where, args = "lname LIKE ? ESCAPE '\\'", [escaped + "%"]
        else:
            where, args = "lname = ?", [lname]
        if kind:
            where += " AND kind = ?"
            args.append(kind)
        sql = (
            f"SELECT name, kind, path, line, end_line FROM symbols WHERE {where}"
            " ORDER BY (name = ?) DESC, (substr(name, 1, ?) = ?) DESC, length(name), path, line"
            " LIMIT ?"
        )
        args += [name, len(name), name, int(limit)]
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [Symbol(*row) for row in rows]

    def outline(self, path: str) -> list[Symbol]:
        """The definitions of one file, in line order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, kind, path, line, end_line FROM symbols WHERE path = ?"
                " ORDER BY line, name",
                (path,),
            ).fetchall()
        return [Symbol(*row) for row in rows]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM symbols").fetchone()[0]

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.close()
