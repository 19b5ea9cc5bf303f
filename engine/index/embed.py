"""Embedders: turn code or a query into a unit vector for the semantic index.

The default `HashingEmbedder` needs no model: it hashes code tokens (identifiers split on
camelCase and snake_case, plus the whole identifier) into a fixed number of signed buckets.
It is deterministic across processes (crc32, not Python's salted `hash`). A real model plugs in
behind the same `Embedder` protocol; its `name` and `dim` decide whether a saved index fits.
"""

from __future__ import annotations

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
_MEMO_LIMIT = 50_000


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
    """Feature hashing over code tokens with sub-linear term frequency; no model download.

    Each feature goes to `HASHES` signed buckets (independent crc32 seeds), so two features
    can only cancel if every one of their buckets collides with opposite signs; a text whose
    signed vector still sums to zero falls back to unsigned counts, so a text with any feature
    never embeds to a zero vector. The batch is embedded with numpy: Python only splits and
    memoises identifiers, the counting, weighting and bucketing are array operations.
    """

    HASHES = 2

    def __init__(self, dim: int = 256) -> None:
        self.dim = int(dim)
        self.name = f"hashing-v2-{self.dim}"
        self._memo: dict[str, tuple[int, ...]] = {}  # identifier -> feature ids
        self._feature_ids: dict[str, int] = {}
        self._buckets = np.zeros((1024, self.HASHES), dtype=np.int64)
        self._signs = np.zeros((1024, self.HASHES), dtype=np.float32)

    def _feature_id(self, feature: str) -> int:
        found = self._feature_ids.get(feature)
        if found is None:
            found = len(self._feature_ids)
            if found >= len(self._buckets):
                self._buckets = np.concatenate([self._buckets, np.zeros_like(self._buckets)])
                self._signs = np.concatenate([self._signs, np.zeros_like(self._signs)])
            data = feature.encode("utf-8")
            for seed in range(self.HASHES):
                digest = zlib.crc32(data, seed * 0x9E3779B1 & 0xFFFFFFFF)
                # The low bits pick the bucket, the high bit the sign.
                self._buckets[found, seed] = digest % self.dim
                self._signs[found, seed] = 1.0 if digest & 0x80000000 else -1.0
            self._feature_ids[feature] = found
        return found

    def _features_of(self, identifier: str) -> tuple[int, ...]:
        found = self._memo.get(identifier)
        if found is None:
            found = tuple(self._feature_id(f) for f in identifier_features(identifier))
            self._memo[identifier] = found
        return found

    def embed(self, texts: list[str]) -> np.ndarray:
        """See `Embedder.embed`."""
        # Bounded memo, cleared between calls only: ids handed out in this call stay valid.
        if len(self._memo) >= _MEMO_LIMIT or len(self._feature_ids) >= _MEMO_LIMIT:
            self._memo.clear()
            self._feature_ids.clear()
        rows_list: list[int] = []
        features_list: list[int] = []
        counts_list: list[int] = []
        for row, text in enumerate(texts):
            # Count identifiers first: code repeats them, so each is split and hashed once.
            for identifier, count in Counter(_IDENTIFIER.findall(text)).items():
                features = self._features_of(identifier)
                if features:
                    features_list.extend(features)
                    rows_list.extend([row] * len(features))
                    counts_list.extend([count] * len(features))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not features_list:
            return out
        rows = np.asarray(rows_list, dtype=np.int64)
        features = np.asarray(features_list, dtype=np.int64)
        counts = np.asarray(counts_list, dtype=np.float64)
        # Sum counts per (row, feature), then sub-linear weights.
        keys, inverse = np.unique(
            rows * (len(self._feature_ids) + 1) + features, return_inverse=True
        )
        totals = np.bincount(inverse, weights=counts)
        key_rows = keys // (len(self._feature_ids) + 1)
        key_features = keys % (len(self._feature_ids) + 1)
        weights = 1.0 + np.log(totals)
        cells = key_rows[:, None] * self.dim + self._buckets[key_features]
        size = len(texts) * self.dim
        signed = np.bincount(
            cells.ravel(),
            weights=(weights[:, None] * self._signs[key_features]).ravel(),
            minlength=size,
        ).reshape(len(texts), self.dim)
        norms = np.linalg.norm(signed, axis=1)
        cancelled = np.flatnonzero(norms == 0.0)
        cancelled = cancelled[np.isin(cancelled, key_rows)]
        if len(cancelled):
            unsigned = np.bincount(
                cells.ravel(), weights=np.repeat(weights, self.HASHES), minlength=size
            ).reshape(len(texts), self.dim)
            signed[cancelled] = unsigned[cancelled]
            norms[cancelled] = np.linalg.norm(signed[cancelled], axis=1)
        nonzero = norms > 0.0
        out[nonzero] = (signed[nonzero] / norms[nonzero, None]).astype(np.float32)
        return out
