"""Split a file into chunks for the semantic index: at definitions, else by line windows."""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_CHUNK_LINES = 15
MAX_CHUNK_LINES = 50
# A line that starts a definition in the common languages: a natural place for a chunk to begin.
_DEFINITION = re.compile(
    r"^\s{0,8}(?:export\s+)?(?:pub(?:\([a-z]+\))?\s+)?(?:async\s+)?"
    r"(?:def|class|function|func|fn|impl|struct|enum|trait|interface|type|module|sub)\b"
)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Lines `start`..`end` (1-based, inclusive) of a file, and their text."""

    start: int
    end: int
    text: str


def chunk_lines(lines: list[str]) -> list[Chunk]:
    """Chunks covering `lines`; blank-only chunks are left out."""
    chunks: list[Chunk] = []
    start = 0
    for index, line in enumerate(lines):
        length = index - start
        if length >= MAX_CHUNK_LINES or (length >= MIN_CHUNK_LINES and _DEFINITION.match(line)):
            _append(chunks, lines, start, index)
            start = index
    _append(chunks, lines, start, len(lines))
    return chunks


def _append(chunks: list[Chunk], lines: list[str], start: int, stop: int) -> None:
    if stop <= start:
        return
    text = "\n".join(lines[start:stop])
    if text.strip():
        chunks.append(Chunk(start + 1, stop, text))
