"""A sentence-transformers BERT model (e.g. all-MiniLM-L6-v2) run with numpy: no torch, offline.

The directory is a sentence-transformers model as published: `config.json` (`model_type`
bert), `model.safetensors`, `tokenizer.json`, and optionally `sentence_bert_config.json`
(`max_seq_length`) and `1_Pooling/config.json` (mean or CLS pooling). The encoder is the
standard BERT forward pass (embeddings, then self-attention and GELU feed-forward layers with
post-layer-norm), and a text's vector is its tokens' pooled output, L2-normalised, as
`SentenceTransformer.encode(..., normalize_embeddings=True)` gives (checked against it:
all-MiniLM-L6-v2's vector of "This is an example sentence" starts 0.0677, 0.0635, 0.0487).

Texts are embedded in batches of similar length (at most `TOKENS_PER_BATCH` padded tokens),
so the working arrays stay about 27 MB whatever the slice; the weights (float32, 87 MB for
MiniLM-L6) are reserved through the memory reservations before they are read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.index.model_embedders import (
    ModelLoadError,
    fingerprint_files,
    require_model_files,
)

if TYPE_CHECKING:
    from engine.memory.reservations import Grant

TRANSFORMER_FILES = ("config.json", "tokenizer.json", "model.safetensors")
# Padded tokens per forward pass. The working arrays peak at about 27 MB for MiniLM at 512
# (tracemalloc: 53 MB at 1024, 106 MB at 2048, mostly GELU's and attention's temporaries),
# inside what the indexer reserves per embedder slice; smaller batches were not slower (CPU
# time for 48 chunks of 256 tokens: 3.6 s at 512, 3.9 s at 2048: they stay in cache).
TOKENS_PER_BATCH = 512
_DEFAULT_MAX_TOKENS = 256  # sentence-transformers' max_seq_length for the MiniLM models
_SUPPORTED_TYPES = ("bert",)


def is_transformer_dir(directory: Path) -> bool:
    """True when `directory` holds a BERT model with a fast tokenizer, in safetensors."""
    directory = Path(directory)
    if not all((directory / name).is_file() for name in TRANSFORMER_FILES):
        return False
    return _model_type(directory) in _SUPPORTED_TYPES


def _model_type(directory: Path) -> str | None:
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config.get("model_type") if isinstance(config, dict) else None


def _read_json(path: Path) -> dict:
    """The JSON object in `path`, {} when absent; unreadable, one ModelLoadError line."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"transformer model file {path} cannot be read: {error}") from None
    return value if isinstance(value, dict) else {}


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    variance = np.mean(np.square(x), axis=-1, keepdims=True)
    x *= 1.0 / np.sqrt(variance + np.float32(eps))
    x *= weight
    x += bias
    return x


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * (1 + erf(x / sqrt 2)) / 2, in place; erf by Abramowitz and
    Stegun 7.1.26 (|error| < 1.5e-7; numpy has no erf and scipy is not a dependency)."""
    z = x * np.float32(1.0 / math.sqrt(2.0))
    a = np.abs(z)
    t = a * np.float32(0.3275911)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(coefficient)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # 1 - erf(|z|)
    np.copysign(poly, z, out=poly)
    np.sign(z, out=z)
    z += 1.0
    z -= poly  # 1 + erf(z)
    z *= x
    z *= np.float32(0.5)
    return z


class _Layer:
    """One encoder layer's weights, transposed once for `x @ w`."""

    __slots__ = ("qkv_w", "qkv_b", "out_w", "out_b", "ln1_w", "ln1_b")
    __slots__ += ("up_w", "up_b", "down_w", "down_b", "ln2_w", "ln2_b")

    def __init__(self, tensors: dict[str, np.ndarray], prefix: str) -> None:
        def get(name: str) -> np.ndarray:
            return np.asarray(tensors[prefix + name], dtype=np.float32)

        attention = "attention.self."
        self.qkv_w = np.ascontiguousarray(
            np.concatenate([get(attention + f"{p}.weight") for p in ("query", "key", "value")]).T
        )
        self.qkv_b = np.concatenate(
            [get(attention + f"{p}.bias") for p in ("query", "key", "value")]
        )
        self.out_w = np.ascontiguousarray(get("attention.output.dense.weight").T)
        self.out_b = get("attention.output.dense.bias")
        self.ln1_w = get("attention.output.LayerNorm.weight")
        self.ln1_b = get("attention.output.LayerNorm.bias")
        self.up_w = np.ascontiguousarray(get("intermediate.dense.weight").T)
        self.up_b = get("intermediate.dense.bias")
        self.down_w = np.ascontiguousarray(get("output.dense.weight").T)
        self.down_b = get("output.dense.bias")
        self.ln2_w = get("output.LayerNorm.weight")
        self.ln2_b = get("output.LayerNorm.bias")


class TransformerEmbedder:
    """A sentence-transformers BERT encoder run with numpy; mean pooling, unit vectors."""

    kind = "transformer"
    # One vector per definition (see `Project.pieces_to_embed`): measured on the question
    # eval, semantic MRR@10 0.266 -> 0.389 on the held-out half against 15-50 line windows.
    embeds_definitions = True
    # Hybrid's lexical weight with this embedder: the best on the eval's tune half (MiniLM,
    # per definition: 0.434 at 0.4, 0.432 at 0.5, 0.397 at the hashing embedder's 0.8).
    hybrid_lexical_weight = 0.4

    def __init__(
        self,
        directory: Path,
        label: str | None = None,
        reserve: Callable[[int], Grant] | None = None,
    ) -> None:
        """Load the model in `directory`; `reserve(nbytes)` is called first for its weights
        (it raises ModelLoadError to refuse). Loading holds the file's tensors and the
        transposed copies at once for a moment (about 1.5x the file)."""
        directory = Path(directory).expanduser()
        require_model_files(directory, TRANSFORMER_FILES, "sentence-transformers")
        config = _read_json(directory / "config.json")
        if config.get("model_type") not in _SUPPORTED_TYPES:
            raise ModelLoadError(
                f"transformer model {directory}: model_type {config.get('model_type')!r} is "
                f"not supported (only {', '.join(_SUPPORTED_TYPES)})"
            )
        if config.get("hidden_act", "gelu") != "gelu":
            raise ModelLoadError(
                f"transformer model {directory}: only hidden_act gelu is supported"
            )
        pooling = _read_json(directory / "1_Pooling" / "config.json")
        self._cls_pooling = bool(pooling.get("pooling_mode_cls_token")) and not bool(
            pooling.get("pooling_mode_mean_tokens")
        )
        positions = int(config.get("max_position_embeddings", 512))
        sentence = _read_json(directory / "sentence_bert_config.json")
        self.max_tokens = min(positions, int(sentence.get("max_seq_length", _DEFAULT_MAX_TOKENS)))
        self.model_bytes = (directory / "model.safetensors").stat().st_size
        # Held for as long as the weights are: reserved before they are read.
        self._grant = reserve(self.model_bytes) if reserve is not None else None
        try:
            self._load(directory, config)
        except Exception:
            self.close()
            raise
        self.directory = directory
        self.model_name = label or directory.name
        self.fingerprint = fingerprint_files([directory / name for name in TRANSFORMER_FILES])
        self.name = f"transformer:{self.model_name}:{self.dim}:{self.fingerprint}"

    def _load(self, directory: Path, config: dict) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        try:
            tensors = load_file(str(directory / "model.safetensors"))
            tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        except Exception as error:  # noqa: BLE001 - any corrupt file is one clear error
            raise ModelLoadError(f"transformer model {directory} cannot be read: {error}") from None
        # BertModel checkpoints name tensors `embeddings.*`; task heads prefix them `bert.`.
        tensors = {key.removeprefix("bert."): value for key, value in tensors.items()}
        try:
            self.dim = int(config["hidden_size"])
            self._heads = int(config["num_attention_heads"])
            layers = int(config["num_hidden_layers"])
            self._eps = float(config.get("layer_norm_eps", 1e-12))
            self._word = np.asarray(tensors["embeddings.word_embeddings.weight"], np.float32)
            self._position = np.asarray(
                tensors["embeddings.position_embeddings.weight"], np.float32
            )
            self._token_type = np.asarray(
                tensors["embeddings.token_type_embeddings.weight"], np.float32
            )[0]
            self._embed_ln = (
                np.asarray(tensors["embeddings.LayerNorm.weight"], np.float32),
                np.asarray(tensors["embeddings.LayerNorm.bias"], np.float32),
            )
            self._layers = [_Layer(tensors, f"encoder.layer.{i}.") for i in range(layers)]
        except (KeyError, ValueError, TypeError) as error:
            raise ModelLoadError(
                f"transformer model {directory}: missing or malformed weight {error}"
            ) from None
        if self.dim % self._heads or self._word.shape[1] != self.dim:
            raise ModelLoadError(f"transformer model {directory}: inconsistent hidden size")
        tokenizer.no_padding()
        tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer = tokenizer

    def close(self) -> None:
        """Release the weights' reservation (the embedder is not used afterwards)."""
        grant, self._grant = getattr(self, "_grant", None), None
        if grant is not None:
            grant.release()

    def embed(self, texts: list[str]) -> np.ndarray:
        """See `engine.index.embed.Embedder.embed`."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        import os

        if os.environ.get("QEXP_SPLIT"):
            from engine.index.subtokens import identifiers_as_words

            texts = [identifiers_as_words(text) for text in texts]
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = [encoding.ids for encoding in encodings]
        order = sorted(range(len(ids)), key=lambda row: len(ids[row]))
        start = 0
        while start < len(order):
            # Rows in length order: a batch is padded to its last (longest) row.
            stop = start + 1
            while stop < len(order) and (stop - start + 1) * len(ids[order[stop]]) <= max(
                TOKENS_PER_BATCH, len(ids[order[stop]])
            ):
                stop += 1
            rows = order[start:stop]
            out[rows] = self._encode([ids[row] for row in rows])
            start = stop
        return out

    def _encode(self, batch: list[list[int]]) -> np.ndarray:
        """Unit vectors of a batch of token id lists (with [CLS] ... [SEP])."""
        count, length = len(batch), max(len(row) for row in batch)
        ids = np.zeros((count, length), dtype=np.int64)
        mask = np.zeros((count, length), dtype=np.float32)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1.0
        x = self._word[ids]
        x += self._position[:length]
        x += self._token_type
        x = _layer_norm(x, *self._embed_ln, self._eps)
        # Padding is never attended to: a large negative score before the softmax.
        bias = ((mask - 1.0) * np.float32(1e9))[:, None, None, :]
        heads, width = self._heads, self.dim // self._heads
        scale = np.float32(1.0 / math.sqrt(width))
        for layer in self._layers:
            qkv = x @ layer.qkv_w
            qkv += layer.qkv_b
            qkv = qkv.reshape(count, length, 3, heads, width)
            query = qkv[:, :, 0].transpose(0, 2, 1, 3)
            key = qkv[:, :, 1].transpose(0, 2, 3, 1)
            value = qkv[:, :, 2].transpose(0, 2, 1, 3)
            scores = query @ key
            scores *= scale
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            attended = (scores @ value).transpose(0, 2, 1, 3).reshape(count, length, self.dim)
            projected = attended @ layer.out_w
            projected += layer.out_b
            projected += x
            x = _layer_norm(projected, layer.ln1_w, layer.ln1_b, self._eps)
            hidden = x @ layer.up_w
            hidden += layer.up_b
            hidden = _gelu(hidden)
            down = hidden @ layer.down_w
            down += layer.down_b
            down += x
            x = _layer_norm(down, layer.ln2_w, layer.ln2_b, self._eps)
        if self._cls_pooling:
            pooled = x[:, 0]
        else:
            pooled = (x * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        np.divide(pooled, norms, out=pooled, where=norms > 0)
        return pooled.astype(np.float32, copy=False)
