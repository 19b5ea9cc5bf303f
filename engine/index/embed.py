"""Embedders: turn code or a query into a unit vector for the semantic index.

The default `HashingEmbedder` needs no model: it hashes code tokens (identifiers split on
camelCase and snake_case, plus the whole identifier) into a fixed number of signed buckets.
It is deterministic across processes (crc32, not Python's salted `hash`). A real model plugs in
behind the same `Embedder` protocol; its `name` and `dim` decide whether a saved index fits.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from typing import Protocol, runtime_checkable

import numpy as np

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_CAMEL_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# Words so common in code that they say nothing about what a chunk does.
_STOPWORDS = frozenset(
    {
        *("self", "cls", "def", "class", "return", "import", "from", "if", "else", "elif"),
        *("for", "while", "in", "is", "not", "and", "or", "none", "true", "false", "the"),
        *("a", "an", "to", "of", "try", "except", "finally", "with", "as", "pass", "raise"),
        *("yield", "lambda", "this", "var", "let", "const", "function", "new", "public"),
        *("private", "static", "void", "int", "str"),
    }
)
_MEMO_LIMIT = 100_000


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of length `dim`."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """A (len(texts), dim) float32 array; each row has unit length (or is all zero)."""
        ...


def identifier_features(identifier: str) -> list[str]:
    """Lower-case features of one identifier: its sub-words, and itself when it has several."""
    parts = [
        part.lower() for piece in identifier.split("_") for part in _CAMEL_PARTS.findall(piece)
    ]
    features = [part for part in parts if len(part) > 1 and part not in _STOPWORDS]
    whole = identifier.lower()
    if len(parts) > 1 and whole not in _STOPWORDS:
        features.append(whole)
    return features


def code_tokens(text: str) -> list[str]:
    """Lower-case features of `text`: sub-words of each identifier, and the identifier itself."""
    return [feature for word in _IDENTIFIER.findall(text) for feature in identifier_features(word)]


class HashingEmbedder:
    """Feature hashing over code tokens with sub-linear term frequency; no model download."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = int(dim)
        self.name = f"hashing-v1-{self.dim}"
        self._memo: dict[str, tuple[tuple[int, float], ...]] = {}

    def _buckets_of(self, identifier: str) -> tuple[tuple[int, float], ...]:
        found = self._memo.get(identifier)
        if found is None:
            buckets = []
            for feature in identifier_features(identifier):
                digest = zlib.crc32(feature.encode("utf-8"))
                # The low bits pick the bucket, one high bit the sign, so collisions cancel
                # out on average instead of piling up.
                buckets.append((digest % self.dim, 1.0 if digest & 0x80000000 else -1.0))
            found = tuple(buckets)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[identifier] = found
        return found

    def embed(self, texts: list[str]) -> np.ndarray:
        """See `Embedder.embed`."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            # Count identifiers first: code repeats them, so each is split and hashed once.
            counts: dict[tuple[int, float], int] = {}
            for identifier, count in Counter(_IDENTIFIER.findall(text)).items():
                for bucket in self._buckets_of(identifier):
                    counts[bucket] = counts.get(bucket, 0) + count
            vector = out[row]
            for (bucket, sign), count in counts.items():
                vector[bucket] += sign * (1.0 + math.log(count))
            norm = float(np.linalg.norm(vector))
            if norm > 0.0:
                vector /= norm
        return out
