"""The full-text index: tantivy, on disk under the project's index dir.

Each file has one document for full-text search (`content`, tantivy's own syntax, whole words)
and one per piece (`segments.file_pieces`: a definition each, cut by `analysis.analyze_text`)
for the lexical side of hybrid search (`lexical`: the piece's sub-tokens, stemmed, matched with
OR and ranked by BM25). Both carry the file's path in `path_id`, so replacing or deleting a file
replaces or deletes all of them in one term.

Only paths and chunk spans are stored; contents are tokenised but not stored (the loaded-files
cache and the file itself give the lines), so the index stays small. The writer is opened per
batch with a heap sized from the memory budget and closed after its commit, so its arena is not
kept.
"""

from __future__ import annotations

import contextlib
import errno
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import tantivy

from engine.atomic import ensure_private_dir
from engine.index.analysis import FileAnalysis, analyze_text
from engine.index.errors import QuerySyntaxError
from engine.index.subtokens import subtoken_text
from engine.index.symbols import SymbolStore

FULLTEXT_DIR = "fulltext"
# tantivy refuses less than this per indexing thread.
MIN_WRITER_HEAP = 15_000_000
MAX_WRITER_HEAP = 256_000_000
# tantivy's default tokenizer drops tokens longer than this; a literal's long words are skipped.
_MAX_TOKEN_CHARS = 40
_ALNUM_RUN = re.compile(r"[^\W_]+")
# The analyzer of the `lexical` field, fed `subtoken_text`; tantivy keeps only its name in the
# schema, so a changed pipeline needs a new name (an index with the old one is then rebuilt).
# v3: numbers left out, identifiers no longer kept whole (subtokens.py); documents carry their
# class and definition names (`analysis.NAME_REPEATS`).
LEXICAL_ANALYZER = "leindex_subtokens_en_v3"
# A lexical query uses at most this many distinct terms (the first ones).
MAX_LEXICAL_TERMS = 128


class FullTextOpenError(RuntimeError):
    """The on-disk index exists but cannot be opened (corrupt, other version, other schema)."""


class FullTextBusyError(RuntimeError):
    """Another process is writing this index (tantivy allows one writer at a time)."""


# Another process's writer holds the lock only for one commit: wait this long for it.
WRITER_LOCK_WAIT_SECONDS = 10.0


def writer_heap_bytes(total_budget_mb: float) -> int:
    """The writer's arena: 2% of the memory budget, within tantivy's floor and a sane ceiling."""
    wanted = int(total_budget_mb * 1024 * 1024 * 0.02)
    return max(MIN_WRITER_HEAP, min(MAX_WRITER_HEAP, wanted))


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # Exact path, for deletes and for naming the hit: doc ids only (no freqs or positions:
    # one term per document, never in a phrase).
    builder.add_text_field("path_id", stored=True, tokenizer_name="raw", index_option="basic")
    # Tokenised path, so `path:walker` narrows a query to matching file names.
    builder.add_text_field("path", stored=False)
    builder.add_text_field("content", stored=False)
    # One document per chunk: its sub-tokens (term frequencies only, no positions) and span.
    builder.add_text_field(
        "lexical", stored=False, tokenizer_name=LEXICAL_ANALYZER, index_option="freq"
    )
    builder.add_unsigned_field("start", stored=True)
    builder.add_unsigned_field("end", stored=True)
    return builder.build()


def lexical_analyzer() -> tantivy.TextAnalyzer:
    """Lower-cased, English stop words dropped, Porter-stemmed (tantivy's en_stem, on
    pre-split sub-tokens)."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stopword("english"))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


class FullTextIndex:
    """A per-project tantivy index; searches are thread-safe, writes are serialised."""

    def __init__(self, directory: Path, heap_bytes: int) -> None:
        self.directory = ensure_private_dir(Path(directory))
        self.heap_bytes = max(MIN_WRITER_HEAP, int(heap_bytes))
        self._schema = _schema()
        self._write_lock = threading.Lock()
        self._analyzer = lexical_analyzer()
        self.created = False
        try:
            if tantivy.Index.exists(str(self.directory)):
                self._index = tantivy.Index.open(str(self.directory))
                self._index.register_tokenizer(LEXICAL_ANALYZER, self._analyzer)
                if not self._has_fields():
                    raise FullTextOpenError(f"{self.directory}: index has another schema")
                self._remove_orphan_files()
            else:
                self._index = tantivy.Index(self._schema, path=str(self.directory))
                self._index.register_tokenizer(LEXICAL_ANALYZER, self._analyzer)
                self.created = True
            self._index.config_reader(reload_policy="manual")
            self._searcher = self._index.searcher()
            # Definitions live next to (not inside) tantivy's directory, which it manages.
            self.symbols = SymbolStore(self.directory.parent)
            # Definitions missing or of an old schema: index every file again, not just changes.
            self.created = self.created or self.symbols.created
            if self.created:
                self.symbols.clear()
        except FullTextOpenError:
            raise
        except Exception as error:  # tantivy raises ValueError/OSError/RuntimeError variously
            raise FullTextOpenError(
                f"{self.directory}: cannot open full-text index: {error}"
            ) from None

    def _remove_orphan_files(self) -> None:
        """Delete files a writer killed mid-commit left behind: tantivy would refuse to create
        them again (FileAlreadyExists) and every later commit would fail."""
        try:
            writer = self._index.writer(heap_size=self.heap_bytes, num_threads=1)
        except ValueError as error:
            if "LockBusy" in str(error):
                return  # a live writer in another process: its files are not orphans
            raise
        try:
            writer.garbage_collect_files()
        finally:
            del writer

    def _has_fields(self) -> bool:
        """Whether the index on disk has this schema's fields (an index written before the
        `lexical` field, or with another analyzer, has not)."""
        try:
            self._index.parse_query("x", ["content", "path"])
            tantivy.Query.term_query(self._index.schema, "path_id", "x")
            tantivy.Query.range_query(self._index.schema, "start", tantivy.FieldType.Unsigned, 0, 1)
            # The field's analyzer is looked up by name; an unknown name fails here.
            self._index.parse_query("x", ["lexical"])
        except ValueError:
            return False
        return True

    @property
    def num_docs(self) -> int:
        """Documents in the index (as of the last commit): files and their chunks."""
        return self._searcher.num_docs

    @contextlib.contextmanager
    def batch(self) -> Iterator[FullTextBatch]:
        """A writer for one batch of changes, committed (and made visible) on exit."""
        with self._write_lock:
            writer = self._acquire_writer()
            self.symbols.begin()
            try:
                yield FullTextBatch(writer, self.symbols)
                writer.commit()
                self.symbols.commit()
                writer.wait_merging_threads()
            except BaseException as error:
                with contextlib.suppress(Exception):
                    writer.rollback()
                self.symbols.rollback()
                if _killed_by_a_full_disk(error, self.directory):
                    raise OSError(errno.ENOSPC, f"{self.directory}: disk full: {error}") from error
                raise
            finally:
                del writer
            self._index.reload()
            self._searcher = self._index.searcher()

    def _acquire_writer(self) -> tantivy.IndexWriter:
        deadline = time.monotonic() + WRITER_LOCK_WAIT_SECONDS
        while True:
            try:
                return self._index.writer(heap_size=self.heap_bytes, num_threads=1)
            except ValueError as error:
                if "LockBusy" not in str(error):
                    raise
                if time.monotonic() > deadline:
                    raise FullTextBusyError(
                        f"{self.directory}: another process is writing this index"
                    ) from None
                time.sleep(0.1)

    # -- queries ----------------------------------------------------------------------------

    def parse(self, query: str) -> tantivy.Query:
        """A tantivy-syntax query over contents; raises `QuerySyntaxError` if it does not parse."""
        if not query.strip():
            raise QuerySyntaxError(query, "the query is empty")
        try:
            return self._index.parse_query(query, ["content"])
        except ValueError as error:
            position, hint = explain_syntax_error(query)
            raise QuerySyntaxError(query, str(error), position, hint) from None

    def literal(self, text: str) -> tantivy.Query | None:
        """Candidates for a literal string: the phrase of its words; None if it has no words."""
        words = [match.group().lower() for match in _ALNUM_RUN.finditer(text)]
        # tantivy's default tokenizer drops tokens of 40 UTF-8 bytes or more.
        positioned = [
            (i, w) for i, w in enumerate(words) if len(w.encode("utf-8")) < _MAX_TOKEN_CHARS
        ]
        if not positioned:
            return None
        if len(positioned) == 1:
            return tantivy.Query.term_query(self._schema, "content", positioned[0][1])
        return tantivy.Query.phrase_query(self._schema, "content", positioned)

    def all_files(self) -> tantivy.Query:
        """Matches every file (for a literal made only of punctuation)."""
        return tantivy.Query.all_query()

    def search(self, query: tantivy.Query, limit: int, offset: int = 0) -> list[tuple[float, str]]:
        """(score, path) of the best files, best first."""
        searcher = self._searcher
        result = searcher.search(query, limit=limit, offset=offset, count=False)
        return [(score, searcher.doc(address)["path_id"][0]) for score, address in result.hits]

    def lexical_terms(self, text: str) -> list[str]:
        """The distinct terms `text` gives in the `lexical` field (sub-tokens, stemmed)."""
        terms = self._analyzer.analyze(subtoken_text(text))
        return list(dict.fromkeys(terms))

    def lexical_search(self, text: str, limit: int) -> list[LexicalChunk]:
        """The chunks sharing most (rare) sub-tokens with `text`: BM25, any term may match."""
        # A pasted page of code should not become a query of thousands of clauses.
        terms = self.lexical_terms(text)[:MAX_LEXICAL_TERMS]
        if not terms:
            return []
        query = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Should, tantivy.Query.term_query(self._schema, "lexical", term))
                for term in terms
            ]
        )
        searcher = self._searcher
        result = searcher.search(query, limit=limit, count=False)
        chunks = []
        for score, address in result.hits:
            doc = searcher.doc(address)
            chunks.append(
                LexicalChunk(doc["path_id"][0], int(doc["start"][0]), int(doc["end"][0]), score)
            )
        return chunks


# Below this much free space, a writer whose worker thread died is taken as a full disk.
_FULL_DISK_FREE_BYTES = 1 << 20


def _killed_by_a_full_disk(error: BaseException, directory: Path) -> bool:
    """tantivy reports a worker thread that failed to write (ENOSPC while flushing or merging
    a segment) only as "An index writer was killed", without the OS error; with (almost) no
    space left under the index, that is what happened."""
    if "index writer was killed" not in str(error).lower():
        return False
    try:
        return shutil.disk_usage(directory).free < _FULL_DISK_FREE_BYTES
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class LexicalChunk:
    """A chunk found by `lexical_search`: lines `start`..`end` of `path`, and its BM25 score."""

    path: str
    start: int
    end: int
    score: float


_FIELDS = ("content", "path")
_OPERATOR_END = re.compile(r"(?:^|\s)(AND|OR|NOT|[+-])\s*$")
_FIELD_PREFIX = re.compile(r"(?<![\w:])([A-Za-z_][\w.]*):(?!:)")


def uses_query_syntax(query: str) -> bool:
    """Whether `query` asks for tantivy's syntax explicitly: a boolean operator word, or a
    `content:`/`path:` field. Anything else that fails to parse is code, searched literally."""
    if re.search(r"(?:^|\s)(AND|OR|NOT)(?:\s|$)", query):
        return True
    return any(m.group(1) in _FIELDS for m in _FIELD_PREFIX.finditer(query))


def explain_syntax_error(query: str) -> tuple[int | None, str]:
    """(0-based column, hint) for the first likely cause of a parse failure."""
    depth_at: list[int] = []
    quote_at = None
    for column, char in enumerate(query):
        if quote_at is not None:
            if char == '"':
                quote_at = None
            continue
        if char == '"':
            quote_at = column
        elif char == "(":
            depth_at.append(column)
        elif char == ")":
            if not depth_at:
                return column, "a ')' closes no '('; remove it or escape it as '\\)'"
            depth_at.pop()
    if quote_at is not None:
        return quote_at, "this quote is never closed; add a closing '\"'"
    if depth_at:
        return depth_at[-1], "this '(' is never closed; add a ')'"
    match = _OPERATOR_END.search(query)
    if match:
        return match.start(1), f"{match.group(1)!r} needs a term after it"
    for match in _FIELD_PREFIX.finditer(query):
        if match.group(1) not in _FIELDS:
            return match.end(1), (
                f"{match.group(1)!r} is not a field (fields: content, path); "
                "search it as a literal instead"
            )
    if "::" in query:
        return query.index("::"), "':' names a field; search code like this as a literal"
    return None, "search it as a literal (literal mode) to match the text exactly"


class FullTextBatch:
    """Adds and deletes inside one writer session."""

    def __init__(self, writer: tantivy.IndexWriter, symbols: SymbolStore | None = None) -> None:
        self._writer = writer
        self._symbols = symbols

    def delete(self, path: str) -> None:
        """Remove the document of `path` (if any), and its definitions."""
        self._writer.delete_documents_by_term("path_id", path)
        if self._symbols is not None:
            self._symbols.delete(path)

    def put(self, path: str, text: str) -> None:
        """Replace the documents of `path` with `text`'s (the file, and one per definition or
        chunk), and its definitions with text's."""
        symbols, lexical = analyze_text(path, text)
        self.put_analysis(FileAnalysis(path, text, symbols=symbols, lexical=lexical))

    def put_analysis(self, analysis: FileAnalysis) -> None:
        """`put` with the file's analysis already done (by a worker process)."""
        path = analysis.rel
        self._writer.delete_documents_by_term("path_id", path)
        self._writer.add_document(tantivy.Document(path_id=path, path=path, content=analysis.text))
        if self._symbols is not None:
            self._symbols.put_symbols(path, analysis.symbols)
        for document in analysis.lexical:
            self._writer.add_document(
                tantivy.Document(
                    path_id=path, lexical=document.text, start=document.start, end=document.end
                )
            )

    def clear(self) -> None:
        """Remove every document and definition."""
        self._writer.delete_all_documents()
        if self._symbols is not None:
            self._symbols.clear()
