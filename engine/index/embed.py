"""Embedders: turn code or a query into a unit vector for the semantic index.

The default `HashingEmbedder` needs no model: it hashes code tokens (identifiers split on
camelCase and snake_case, plus the whole identifier) into a fixed number of signed buckets.
It is deterministic across processes (crc32, not Python's salted `hash`). A real model plugs in
behind the same `Embedder` protocol; its `name` and `dim` decide whether a saved index fits.
"""

from __future__ import annotations

import re
import zlib
from itertools import chain
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # numpy is imported on first use: a search that embeds nothing never loads it
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
        part
        for piece in identifier.split("_")
        # A lower-case word is its own only part (the regex would say the same, slower).
        for part in (
            (piece,)
            if piece.isascii() and piece.isalpha() and piece.islower()
            else [found.lower() for found in _CAMEL_PARTS.findall(piece)]
        )
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
    never embeds to a zero vector. The batch is embedded with numpy: Python only finds
    identifiers and splits each new one once; counting, weighting and bucketing are array
    operations over the whole batch.
    """

    HASHES = 2

    def __init__(self, dim: int = 256) -> None:
        self.dim = int(dim)
        self.name = f"hashing-v2-{self.dim}"
        self._identifier_ids: dict[str, int] = {}
        self._identifier_features: list[tuple[int, ...]] = []  # by identifier id
        self._feature_ids: dict[str, int] = {}
        self._buckets: np.ndarray | None = None  # allocated on first use, with numpy
        self._signs: np.ndarray | None = None

    def _feature_id(self, feature: str) -> int:
        import numpy as np

        found = self._feature_ids.get(feature)
        if found is None:
            found = len(self._feature_ids)
            if self._buckets is None or self._signs is None:
                self._buckets = np.zeros((1024, self.HASHES), dtype=np.int64)
                self._signs = np.zeros((1024, self.HASHES), dtype=np.float32)
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

    def _identifier_id(self, identifier: str) -> int:
        found = self._identifier_ids.get(identifier)
        if found is None:
            found = len(self._identifier_features)
            self._identifier_features.append(
                tuple(self._feature_id(f) for f in identifier_features(identifier))
            )
            self._identifier_ids[identifier] = found
        return found

    def _identifier_counts(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, identifier id, count) of each distinct identifier of each text."""
        import numpy as np

        words_of = [_IDENTIFIER.findall(text) for text in texts]
        words = list(chain.from_iterable(words_of))
        ids = list(map(self._identifier_ids.get, words))
        if None in ids:  # split and hash only the identifiers not seen before
            for index in [index for index, found in enumerate(ids) if found is None]:
                ids[index] = self._identifier_id(words[index])
        lengths = np.fromiter(map(len, words_of), dtype=np.int64, count=len(texts))
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        span = len(self._identifier_features) + 1
        keys, counts = np.unique(rows * span + np.asarray(ids, dtype=np.int64), return_counts=True)
        return keys // span, keys % span, counts

    def _feature_counts(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, feature id, count) triples: each identifier's count given to its features."""
        import numpy as np

        key_rows, key_identifiers, counts = self._identifier_counts(texts)
        distinct, inverse = np.unique(key_identifiers, return_inverse=True)
        features_of = [self._identifier_features[i] for i in distinct.tolist()]
        widths = np.fromiter(map(len, features_of), dtype=np.int64, count=len(features_of))
        flat = np.fromiter(chain.from_iterable(features_of), dtype=np.int64)
        offsets = np.cumsum(widths) - widths
        key_widths = widths[inverse]
        total = int(key_widths.sum())
        # Position of each (key, feature) in `flat`: the key's offset plus 0, 1, ... width-1.
        within = np.arange(total, dtype=np.int64) - np.repeat(
            np.cumsum(key_widths) - key_widths, key_widths
        )
        features = flat[np.repeat(offsets[inverse], key_widths) + within]
        return (
            np.repeat(key_rows, key_widths),
            features,
            np.repeat(counts, key_widths).astype(np.float64),
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        """See `Embedder.embed`."""
        import numpy as np

        # Bounded memo, cleared between calls only: ids handed out in this call stay valid.
        if len(self._identifier_ids) >= _MEMO_LIMIT or len(self._feature_ids) >= _MEMO_LIMIT:
            self._identifier_ids.clear()
            self._identifier_features.clear()
            self._feature_ids.clear()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        rows, features, counts = self._feature_counts(texts)
        if not len(features):
            return out
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
