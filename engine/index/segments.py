"""A file cut at its definitions, so a question meets one function at a time.

Both sides of search use these pieces: the lexical documents (a document per definition keeps
the words of neighbouring functions from adding up to a match that neither deserves) and the
semantic chunks. One vector per definition measured better than 15-50 line windows that merge
small functions (question eval, docs/search.md): a window's vector is a blend of several
functions, and a transformer reads only its first 256 tokens. Files without known definitions
(languages without a grammar, definition-free files) keep the line windows of `chunk_lines`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

from engine.index.chunker import MAX_CHUNK_LINES, Chunk, chunk_lines

if TYPE_CHECKING:
    from engine.index.symbols import Symbol


def definition_segments(lines: list[str], starts: Iterable[int]) -> list[Chunk]:
    """`lines` cut before each definition's first line (1-based `starts`); a stretch longer
    than `MAX_CHUNK_LINES` is cut into windows of that size; blank-only pieces are left out.

    Definitions on consecutive lines (a block of `#define`s, of one-line declarations) stay
    in one piece: a document per line would mostly repeat the file's path, and one line has
    too few words for BM25 to rank it."""
    cuts = []
    previous = 0
    for start in sorted(set(starts)):
        if start != previous + 1 and 1 < start <= len(lines):
            cuts.append(start)
        previous = start
    segments: list[Chunk] = []
    for first, stop in pairwise([1, *cuts, len(lines) + 1]):
        for start in range(first, stop, MAX_CHUNK_LINES):
            end = min(stop, start + MAX_CHUNK_LINES) - 1
            text = "\n".join(lines[start - 1 : end])
            if text.strip():
                segments.append(Chunk(start, end, text))
    return segments


def file_pieces(lines: list[str], starts: Iterable[int]) -> list[Chunk]:
    """The pieces a file is indexed as, a lexical document and a vector each:
    `definition_segments` when the file has definitions (1-based `starts`), else (a language
    without a grammar) `chunk_lines`' windows, cut where the chunker sees definitions."""
    starts = list(starts)
    return definition_segments(lines, starts) if starts else chunk_lines(lines)


def enclosing_classes(symbols: Sequence[Symbol], line: int) -> list[str]:
    """Names of the classes whose span holds `line` without starting on it, outermost first:
    what a method's piece does not say about itself (whose method it is)."""
    return [
        symbol.name
        for symbol in symbols
        if symbol.kind == "class" and symbol.line < line <= symbol.end_line
    ]
