"""Sub-tokens: the words a developer would type for a piece of code or a question about it.

`parseHTTPResponse` and `parse_http_response` both give `parse http response`, so a question
("parse the HTTP response") meets the code that does it. Stemming and stop words are left to the
index's analyzer (see `fulltext.LEXICAL_ANALYZER`), which treats queries the same way.

Numbers are left out (`0x1f`, `1024`, the `8` of `utf8`): nobody asks a question in hex, and
in the kernel they were a large share of distinct terms. A piece that mixes letters and digits
(`utf8`, `ext4`, `i915`) is kept whole beside its letters, so it can still be asked for. An
identifier of several parts is not kept whole: generated names (register maps) made most of
the field's distinct terms, and a query that names an identifier meets its definition first
through the symbol table anyway. Measured on every 20th kernel file, tantivy 32.5 -> 24-27 MB;
the question eval's hybrid MRR 0.374 -> 0.366 (docs/search.md).
"""

from __future__ import annotations

import re
from functools import lru_cache

# Runs of letters and digits, with underscores inside identifiers: `a_b` is one identifier.
_IDENTIFIER = re.compile(r"[^\W_]+(?:_+[^\W_]+)*")
# The same on ASCII text (where `[^\W_]` is `[A-Za-z0-9]`), a third faster: most source is.
_ASCII_IDENTIFIER = re.compile(r"[A-Za-z0-9]+(?:_+[A-Za-z0-9]+)*")
# Upper-case runs before a capitalised word (HTTPResponse -> HTTP, Response), words, digits.
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# Longer tokens are hashes, base64 or generated names: nobody types them.
MAX_SUBTOKEN_CHARS = 40
# Code repeats its identifiers: splitting each distinct one once is most of the indexing speed.
# Bounded, so a huge vocabulary costs at most a few MB (counted by the RSS probe like the rest).
_SPLIT_MEMO_ENTRIES = 1 << 15


def split_identifier(identifier: str) -> list[str]:
    """The lower-case parts of one identifier, numbers left out; a piece (between underscores)
    mixing letters and digits is kept whole after its parts. A number gives nothing."""
    if identifier[:1].isdigit():
        return []
    parts: list[str] = []
    for piece in identifier.split("_"):
        if not piece:
            continue
        if piece.isascii():
            if piece.isalpha() and piece.islower():  # most pieces: one word, no regex needed
                parts.append(piece)
                continue
            words = _CAMEL_PART.findall(piece)
            parts.extend(word.lower() for word in words if not word.isdigit())
            if len(words) > 1 and any(word.isdigit() for word in words):
                parts.append(piece.lower())
        else:  # no case rules to split by outside ASCII: the piece is one word
            parts.append(piece.lower())
    return [part for part in parts if len(part) <= MAX_SUBTOKEN_CHARS]


def subtokens(text: str) -> list[str]:
    """The sub-tokens of every identifier and word in `text`, in order."""
    return [part for word in _IDENTIFIER.findall(text) for part in split_identifier(word)]


@lru_cache(maxsize=_SPLIT_MEMO_ENTRIES)
def _joined_parts(word: str) -> str:
    return " ".join(split_identifier(word))


def subtoken_text(text: str) -> str:
    """`subtokens(text)` joined by spaces: what the lexical field is fed."""
    identifiers = (_ASCII_IDENTIFIER if text.isascii() else _IDENTIFIER).findall(text)
    return " ".join(filter(None, map(_joined_parts, identifiers)))


@lru_cache(maxsize=_SPLIT_MEMO_ENTRIES)
def _spaced_parts(word: str) -> str:
    parts = split_identifier(word)
    return " ".join(parts[:-1]) if len(parts) > 1 else word


def identifiers_as_words(text: str) -> str:
    """`text` with each identifier of several parts written as its words, the rest as it is:
    `x = get_value(parseHTTPResponse)` -> `x = get value(parse http response)`."""
    return _IDENTIFIER.sub(lambda match: _spaced_parts(match.group()), text)
