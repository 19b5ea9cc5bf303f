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
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SYMBOLS_FILE = "symbols.sqlite"
# Bumped whenever the tables or what goes into them change; a file with another version is
# rebuilt, not migrated (3: numeric constants of constant tables left out; 4: kinds stored as
# small integers, the end line as a span).
SCHEMA_VERSION = 4
# Kinds stored as their index here (one byte in SQLite instead of the word); a kind a grammar
# names otherwise is stored as text. Append only: the numbers are in the files.
STORED_KINDS = (
    "function", "macro", "struct", "enum", "type", "class", "method", "constant", "module",
    "trait", "union", "interface", "variable", "field", "namespace", "implementation",
)  # fmt: skip
_KIND_CODES = {kind: code for code, kind in enumerate(STORED_KINDS)}
# A file with more definitions than this is generated code; keep the first ones.
MAX_SYMBOLS_PER_FILE = 5000
# A file defining at least this many numeric constants (`#define NAME 0x1f`) is a table:
# register maps, pin functions, ID lists, mostly generated (the kernel's amd/include/asic_reg
# alone has 1.3 M). Its constants are not stored as definitions (the kernel's table went from
# 2.87 M to 1.58 M symbols); `sym:NAME` still finds one by name, from the full-text index
# (`searcher.constant_definitions`). Function-like and non-numeric macros are always kept.
TABLE_CONSTANTS = 100
# Another process opening or writing the table holds its lock at most this long.
_LOCK_WAIT_SECONDS = 10.0
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
# Linux's attribute macros with arguments, written before a function's return type
# (`static inline __alloc_size(1, 2) void *kmalloc_array(...)`): tree-sitter-c reads the call as
# an expression and the definition is lost, so C text is parsed with them blanked out (same
# length, so lines and columns stay put).
_C_ATTRIBUTE_NAMES = (
    *("__alloc_size", "__realloc_size", "__printf", "__scanf", "__section", "__aligned"),
    *("__assume_aligned", "__diagnose_as", "__malloc_like", "__nonstring_array"),
)
_C_ATTRIBUTE_MACROS = re.compile(
    rf"\b(?:{'|'.join(_C_ATTRIBUTE_NAMES)})\s*\((?:[^()]|\([^()]*\))*\)"
)
# `#define _LINUX_SLAB_H` with nothing after it: an include guard, not a definition to find.
_INCLUDE_GUARD = re.compile(r"(?:_H|_H_|_INCLUDED)_*$")
# A macro's value that is only a number, or numbers joined by shifts and bit operators:
# `0x0000000FL`, `(1 << 3)`, `-22`. Comments are cut off first.
_NUMBER = r"(?:0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]*"
_NUMERIC_VALUE = re.compile(
    rf"[-~(\s]*{_NUMBER}(?:[\s()]*(?:<<|>>|[-|&+*])[-~(\s]*{_NUMBER})*[\s)]*"
)
_COMMENT = re.compile(r"/[*/].*", re.S)
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
        if not extra_modules:
            # One query walks the tree once. (With another grammar's tags too, matches of one
            # node could come in another order and change which kind is kept: kept apart.)
            sources = ["\n".join(sources)]
        for text in sources:
            if not text.strip():
                continue
            try:
                self.queries.append(tree_sitter.Query(language, text))
            except Exception:  # a tags file written for another grammar version
                continue
        self._cursor_class = tree_sitter.QueryCursor
        self.lock = threading.Lock()
        self.blanks_attribute_macros = module == "tree_sitter_c"

    def extract(self, path: str, text: str) -> list[Symbol]:
        # Most files have none: a substring test is much cheaper than the regex's scan.
        if self.blanks_attribute_macros and any(name in text for name in _C_ATTRIBUTE_NAMES):
            text = _C_ATTRIBUTE_MACROS.sub(_blanked, text)
        data = text.encode("utf-8", errors="replace")
        with self.lock:  # a Parser is not safe to share between threads
            tree = self.parser.parse(data)
        found: dict[tuple[str, int], Symbol] = {}
        constants: dict[tuple[str, int], Symbol] = {}
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
                    if node.type == "preproc_def" and _is_include_guard(node, name):
                        continue
                    if kind == "function" and _inside_class(node):
                        kind = "method"
                    line = node.start_point[0] + 1
                    symbol = Symbol(name, kind, path, line, node.end_point[0] + 1)
                    if node.type == "preproc_def" and _is_numeric_constant(node):
                        constants.setdefault((name, line), symbol)
                    else:
                        found.setdefault((name, line), symbol)
        if len(constants) < TABLE_CONSTANTS:
            found.update(constants)
        return sorted(found.values(), key=lambda s: (s.line, s.name))[:MAX_SYMBOLS_PER_FILE]


def _blanked(match: re.Match[str]) -> str:
    return re.sub(r"[^\n]", " ", match.group())


def _is_include_guard(node, name: str) -> bool:
    return node.child_by_field_name("value") is None and bool(_INCLUDE_GUARD.search(name))


def _is_numeric_constant(node) -> bool:
    value = node.child_by_field_name("value")
    if value is None:
        return False
    text = _COMMENT.sub("", value.text.decode("utf-8", errors="replace"))
    return _NUMERIC_VALUE.fullmatch(text) is not None


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


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def _set_wal_mode(db: sqlite3.Connection) -> None:
    """Put the file in WAL mode. Changing the mode needs the file to itself, and SQLite
    answers "locked" at once, without its busy wait, while another process opens it too."""
    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _opened(path: Path) -> tuple[sqlite3.Connection, bool]:
    """A connection to the table at `path` with the current schema, and whether the tables were
    (re)made now (a new file, or one of another schema version)."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # private from the start
    db = sqlite3.connect(
        str(path), timeout=_LOCK_WAIT_SECONDS, check_same_thread=False, isolation_level=None
    )
    try:
        _set_wal_mode(db)
        db.execute("BEGIN IMMEDIATE")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('files', 'symbols', 'symbols_name')"
        ).fetchone()[0]
        created = version != SCHEMA_VERSION or tables != 3
        if created:
            for table in ("symbols", "files"):
                db.execute(f"DROP TABLE IF EXISTS {table}")
            db.execute("CREATE TABLE files (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE)")
            db.execute(
                "CREATE TABLE symbols (file_id INTEGER NOT NULL, line INTEGER NOT NULL,"
                " name TEXT NOT NULL COLLATE NOCASE, kind NOT NULL, span INTEGER NOT NULL,"
                " PRIMARY KEY (file_id, line, name)) WITHOUT ROWID"
            )
            db.execute("CREATE INDEX symbols_name ON symbols (name)")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.close()
        raise
    return db, created


def _symbol(row: tuple) -> Symbol:
    name, kind, path, line, end_line = row
    return Symbol(name, STORED_KINDS[kind] if isinstance(kind, int) else kind, path, line, end_line)


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
    """The project's definitions table; writes are staged and committed with the full-text batch.

    Paths are stored once, in `files`; `symbols` is clustered by (file, line), so an outline or
    a file's replacement reads one range, and its one index is on the name, case-insensitive.
    A file written with another schema (`PRAGMA user_version`) has its tables dropped and made
    again, and `created` is set, so the caller re-extracts every file. The check and the reset
    run in one write transaction: two processes opening the same new index wait for each other
    instead of one removing the file the other is filling.
    """

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / SYMBOLS_FILE
        self._lock = threading.RLock()
        try:
            self._db, self.created = _opened(self.path)
        except sqlite3.OperationalError:  # locked past the timeout, say: not the file's fault
            raise
        except sqlite3.DatabaseError as error:  # not a database at all: start it again
            log.warning("%s: unreadable (%s); rebuilt", self.path, error)
            _remove_database(self.path)
            self._db, self.created = _opened(self.path)
        self._in_batch = False

    # -- writes (inside a batch) --------------------------------------------------------------

    def begin(self) -> None:
        with self._lock:
            # IMMEDIATE: the write lock is taken (waiting if need be) now. A deferred
            # transaction that read first fails at once, without waiting, when another
            # process wrote meanwhile (SQLITE_BUSY_SNAPSHOT in WAL mode).
            self._db.execute("BEGIN IMMEDIATE")
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

    def _file_id(self, path: str) -> int | None:
        row = self._db.execute("SELECT id FROM files WHERE path = ?", (path,)).fetchone()
        return row[0] if row else None

    def delete(self, path: str) -> None:
        with self._lock:
            file_id = self._file_id(path)
            if file_id is not None:
                self._db.execute("DELETE FROM symbols WHERE file_id = ?", (file_id,))
                self._db.execute("DELETE FROM files WHERE id = ?", (file_id,))

    def put(self, path: str, text: str) -> list[Symbol]:
        """Replace the definitions of `path` with those in `text`; returns them."""
        symbols = extract_symbols(path, text)
        self.put_symbols(path, symbols)
        return symbols

    def put_symbols(self, path: str, symbols: Sequence[Symbol]) -> None:
        """Replace the definitions of `path` with `symbols` (extracted already)."""
        with self._lock:
            file_id = self._file_id(path)
            if file_id is not None:
                self._db.execute("DELETE FROM symbols WHERE file_id = ?", (file_id,))
                if not symbols:
                    self._db.execute("DELETE FROM files WHERE id = ?", (file_id,))
            if not symbols:
                return
            if file_id is None:
                file_id = self._db.execute("INSERT INTO files (path) VALUES (?)", (path,)).lastrowid
            self._db.executemany(
                "INSERT OR IGNORE INTO symbols VALUES (?, ?, ?, ?, ?)",
                [
                    (file_id, s.line, s.name, _KIND_CODES.get(s.kind, s.kind), s.end_line - s.line)
                    for s in symbols
                ],
            )

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM symbols")
            self._db.execute("DELETE FROM files")

    # -- reads --------------------------------------------------------------------------------

    def find(
        self, name: str, *, prefix: bool = False, kind: str | None = None, limit: int = 100
    ) -> list[Symbol]:
        """Definitions named `name` (case-sensitive matches before case-insensitive ones), or
        starting with it when `prefix`."""
        if prefix:
            escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            # LIKE is case-insensitive (ASCII), as the name column's NOCASE index it can use.
            where, args = "name LIKE ? ESCAPE '\\'", [escaped + "%"]
        else:
            where, args = "name = ?", [name]
        if kind:
            where += " AND kind = ?"
            args.append(_KIND_CODES.get(kind, kind))
        sql = (
            "SELECT name, kind, path, line, line + span FROM symbols"
            " JOIN files ON files.id = file_id"
            f" WHERE {where} ORDER BY (name = ? COLLATE BINARY) DESC,"
            " (substr(name, 1, ?) = ? COLLATE BINARY) DESC, length(name), path, line LIMIT ?"
        )
        args += [name, len(name), name, int(limit)]
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_symbol(row) for row in rows]

    def outline(self, path: str) -> list[Symbol]:
        """The definitions of one file, in line order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, kind, path, line, line + span FROM symbols"
                " JOIN files ON files.id = file_id WHERE path = ? ORDER BY line, name",
                (path,),
            ).fetchall()
        return [_symbol(row) for row in rows]

    def compact(self) -> None:
        """Rewrite the file with full pages (VACUUM). A table filled by a first index grew its
        name index in random order, leaving pages about 70% full: the kernel's shrank by 12%
        (266 -> 233 MB in 3.9 s, 17 MB of RSS). Searches of the table wait meanwhile."""
        with self._lock:
            if self._in_batch:
                return
            try:
                self._db.execute("VACUUM")
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as error:  # a full disk: the table stays as it was
                log.warning("%s: not compacted: %s", self.path, error)

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM symbols").fetchone()[0]

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.close()
