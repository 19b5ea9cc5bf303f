"""From a query to matching lines: a regex for the words a query asks for, run over a file.

tantivy says which files match; this finds the lines to show. For tantivy syntax the positive
words and phrases of the query (not `path:` terms, not negated ones) become one
case-insensitive pattern that matches them on word boundaries, as tantivy's tokenizer sees
words; a literal matches as a case-insensitive substring.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

MAX_LINE_CHARS = 400
_WORD = r"[^\W_]"
# A query clause: optional +/- and field, then a quoted phrase or a bare term.
_CLAUSE = re.compile(
    r"(?P<sign>[+-]?)(?:(?P<field>[A-Za-z_][A-Za-z0-9_]*):)?"
    r'(?:"(?P<phrase>[^"]*)"|(?P<term>[^\s()"]+))'
)
_OPERATORS = frozenset({"AND", "OR", "NOT", "TO"})
_ALNUM_RUN = re.compile(r"[^\W_]+")


class LinePattern(NamedTuple):
    """One search, compiled twice: case-sensitively for lower-cased text (fast: the regex
    engine can skip ahead to a literal prefix) and with IGNORECASE for the rare text whose
    length changes when lower-cased (offsets would no longer line up)."""

    lowered: re.Pattern[str]
    original: re.Pattern[str]


def _compile(alternatives: list[str]) -> LinePattern:
    body = "|".join(alternatives)
    return LinePattern(re.compile(body), re.compile(body, re.IGNORECASE))


def pattern_for_literal(literal: str) -> LinePattern:
    """Case-insensitive substring match of `literal`."""
    return _compile([re.escape(literal.lower())])


def pattern_for_query(query: str) -> LinePattern | None:
    """A pattern for the positive content words of a tantivy query, or None if it has none."""
    alternatives: list[str] = []
    negate_next = False
    for match in _CLAUSE.finditer(query):
        term, phrase = match.group("term"), match.group("phrase")
        if term in _OPERATORS:
            negate_next = term == "NOT"
            continue
        negated = negate_next or match.group("sign") == "-"
        negate_next = False
        field = match.group("field")
        if negated or (field is not None and field != "content"):
            continue
        text = phrase if phrase is not None else term
        prefix = phrase is None and text.endswith("*")
        text = re.sub(r"[\^~][0-9.]*$", "", text.rstrip("*"))
        words = [re.escape(word) for word in _ALNUM_RUN.findall(text.lower())]
        if not words:
            continue
        # The first word comes first and its boundary is checked behind it, so the pattern
        # starts with a literal the regex engine can search for quickly.
        head = rf"{words[0]}(?<!{_WORD}{words[0]})"
        body = r"[\W_]+".join([head, *words[1:]])
        tail = rf"{_WORD}*" if prefix else rf"(?!{_WORD})"
        alternatives.append(body + tail)
    if not alternatives:
        return None
    return _compile(alternatives)


def matching_lines(text: str, pattern: LinePattern | None) -> Iterator[tuple[int, str]]:
    """(1-based line number, line text) of each line of `text` that `pattern` matches.

    With no pattern (a query about paths only) the first line stands for the file.
    """
    if pattern is None:
        end = text.find("\n")
        yield 1, _clip(text if end < 0 else text[:end])
        return
    lowered = text.lower()
    if len(lowered) == len(text):
        haystack, regex = lowered, pattern.lowered
    else:
        haystack, regex = text, pattern.original
    line_number = 1
    counted_to = 0
    position = 0
    length = len(text)
    while position <= length:
        match = regex.search(haystack, position)
        if match is None:
            return
        start = match.start()
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", start)
        if line_end < 0:
            line_end = length
        line_number += text.count("\n", counted_to, line_start)
        counted_to = line_start
        yield line_number, _clip(text[line_start:line_end])
        position = line_end + 1


def _clip(line: str) -> str:
    line = line.rstrip("\r")
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…"
