"""Indexing's per-file CPU work, free of project state: reading a file, extracting its
definitions, cutting its lexical documents, chunking and embedding it.

These functions take paths and return plain values, so they run the same in-process and in
the worker processes of `engine.index.analysis_pool` (which is why this module imports only
the analysis code, never the engine).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.index.chunker import Chunk, chunk_lines
from engine.index.embed import Embedder
from engine.index.segments import enclosing_classes, file_pieces
from engine.index.subtokens import subtoken_text
from engine.index.symbols import Symbol, extract_symbols
from engine.index.walker import MAX_FILE_BYTES, read_source

if TYPE_CHECKING:  # numpy is imported when something is embedded, not to open a project
    import numpy as np

# The embedder is called on about this many characters at a time: its working arrays peak at
# about 64 bytes per character (tracemalloc, hashing embedder: 22 MB for 256 KB of generated
# code, 105 MB for 4 MB, at the same speed).
EMBED_SLICE_CHARS = 256 << 10
EMBED_BYTES_PER_CHAR = 64
# Cuts a file (path, text) into the pieces that get a vector each.
PiecesOf = Callable[[str, str], list[Chunk]]
# Extra times a lexical document holds the name of the definition it starts with, so BM25
# counts its words more. Question eval, MRR@10 of the lexical side, tune / check: 0.286 / 0.340
# before; class names alone 0.316 / 0.371; and the name 1 more time 0.339 / 0.396, 2: 0.349 /
# 0.404, 5: 0.357 / 0.413, 9: 0.354 / 0.417 (5 is the best on the tune half).
NAME_REPEATS = 5
# Files are handled in groups of about this many source bytes (a worker's task, an in-process
# embedding call): big enough that the per-group cost is small, small enough that both workers
# stay busy to the end of a batch.
GROUP_BYTES = 256 << 10
GROUP_MAX_FILES = 64


@dataclass(frozen=True, slots=True)
class LexicalDocument:
    """One document of the `lexical` field: lines `start`..`end`, as sub-tokens (path first)."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class FileAnalysis:
    """What the full-text stage writes for one file: its text, definitions and lexical
    documents; or, when it cannot be indexed, `text` is None and `skip_reason` says why."""

    rel: str
    text: str | None
    skip_reason: str | None = None
    lossy: bool = False
    symbols: tuple[Symbol, ...] = ()
    lexical: tuple[LexicalDocument, ...] = ()


@dataclass(frozen=True, slots=True)
class EmbeddedFile:
    """One file's chunk spans and their vectors (one row per span); `spans` is None when
    the file could not be read (its vectors are to be removed)."""

    rel: str
    spans: tuple[tuple[int, int], ...] | None
    vectors: np.ndarray | None = None


def analyze_text(rel: str, text: str) -> tuple[tuple[Symbol, ...], tuple[LexicalDocument, ...]]:
    """The definitions of `text` (the contents of `rel`) and its lexical documents: one per
    definition where a grammar finds them, else cut where the semantic chunker cuts."""
    symbols = tuple(extract_symbols(rel, text))
    pieces = file_pieces(text.split("\n"), [symbol.line for symbol in symbols])
    # The path is part of every document: file names say a lot about what code does.
    header = subtoken_text(rel)
    lexical = tuple(
        LexicalDocument(
            piece.start,
            piece.end,
            f"{header} {_context_words(symbols, piece.start)} {subtoken_text(piece.text)}",
        )
        for piece in pieces
    )
    return symbols, lexical


def _context_words(symbols: tuple[Symbol, ...], start: int) -> str:
    """Words a lexical document gets besides its code: the classes it lies in (a method does
    not name its class), and the name of the definition it starts with `NAME_REPEATS` more
    times (a name says in a word or two what the code does)."""
    names = [symbol.name for symbol in symbols if symbol.line == start]
    words = enclosing_classes(symbols, start) + names * NAME_REPEATS
    return subtoken_text(" ".join(words))


def analyze_file(root: str | os.PathLike[str], rel: str) -> FileAnalysis:
    """Read `rel` under `root` and analyse it; a file that cannot be indexed says why."""
    source = read_source(Path(root) / rel, MAX_FILE_BYTES)
    if source.text is None:
        return FileAnalysis(rel, None, source.skip_reason or "unreadable")
    symbols, lexical = analyze_text(rel, source.text)
    return FileAnalysis(rel, source.text, None, bool(source.lossy), symbols, lexical)


def window_pieces(rel: str, text: str) -> list[Chunk]:
    """A file's 15-50 line windows (`chunk_lines`), each headed by the file's path (file names
    say a lot about what code does): what a window embedder embeds."""
    header = rel.replace("/", " ") + "\n"
    return [Chunk(c.start, c.end, header + c.text) for c in chunk_lines(text.split("\n"))]


def embed_sliced(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """The embeddings of `texts`, about `EMBED_SLICE_CHARS` of text per embedder call, so the
    embedder's working arrays stay one slice's size."""
    import numpy as np

    parts = []
    start = size = 0
    for end, text in enumerate(texts, 1):
        size += len(text)
        if size >= EMBED_SLICE_CHARS or end == len(texts):
            parts.append(embedder.embed(texts[start:end]))
            start, size = end, 0
    if not parts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def embed_texts(
    embedder: Embedder, files: list[tuple[str, str]], pieces_of: PiecesOf = window_pieces
) -> list[EmbeddedFile]:
    """Cut these (path, text) pairs into pieces (`pieces_of`) and embed them; one embedder
    call per slice of text."""
    texts: list[str] = []
    spans_of: list[tuple[str, list[tuple[int, int]]]] = []
    for rel, text in files:
        pieces = pieces_of(rel, text)
        texts.extend(piece.text for piece in pieces)
        spans_of.append((rel, [(piece.start, piece.end) for piece in pieces]))
    embedded = embed_sliced(embedder, texts)
    out = []
    row = 0
    for rel, spans in spans_of:
        out.append(EmbeddedFile(rel, tuple(spans), embedded[row : row + len(spans)]))
        row += len(spans)
    return out


def embed_files(
    embedder: Embedder,
    root: str | os.PathLike[str],
    rels: list[str],
    pieces_of: PiecesOf = window_pieces,
) -> list[EmbeddedFile]:
    """Read and embed these files under `root`; an unreadable one comes back with no spans."""
    readable: list[tuple[str, str]] = []
    unreadable: set[str] = set()
    for rel in rels:
        source = read_source(Path(root) / rel)
        if source.text is None:
            unreadable.add(rel)
        else:
            readable.append((rel, source.text))
    embedded = {item.rel: item for item in embed_texts(embedder, readable, pieces_of)}
    return [embedded[rel] if rel not in unreadable else EmbeddedFile(rel, None) for rel in rels]


def file_groups(entries: list[tuple[str, int]]) -> Iterator[list[str]]:
    """The paths of (path, size) `entries` in groups of about `GROUP_BYTES`, in order."""
    group: list[str] = []
    size = 0
    for rel, nbytes in entries:
        group.append(rel)
        size += nbytes
        if size >= GROUP_BYTES or len(group) >= GROUP_MAX_FILES:
            yield group
            group, size = [], 0
    if group:
        yield group


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
