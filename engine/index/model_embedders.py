"""Embedders backed by real models, loaded from local files only (never downloaded here).

`Model2VecEmbedder` reads a MinishLab model2vec static model directly: a directory with
`config.json`, `tokenizer.json` and `model.safetensors` (tensor `embeddings`, optionally
`weights` per token and `mapping` token -> row for quantised vocabularies). A text is the
mean of its tokens' vectors, L2-normalised, as model2vec's `StaticModel.encode` does. Only
`tokenizers`, `safetensors` and numpy are needed; no torch, no network.

`FastEmbedEmbedder` wraps the optional `fastembed` package (onnxruntime) with
`local_files_only`; it is reported as unavailable when fastembed is not installed.

Each embedder's `name` carries kind, model name, dim and a fingerprint of the model files,
so a saved vector index (which records the name and dim) never silently mixes two models.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported when a model is loaded, not at start-up
    import numpy as np

MODEL2VEC_FILES = ("config.json", "tokenizer.json", "model.safetensors")
_MAX_TOKENS = 512  # model2vec's default max_length; long chunks are truncated like there


class ModelLoadError(ValueError):
    """A model that cannot be used: missing files, wrong format, or a missing package."""


def fingerprint_files(paths: list[Path]) -> str:
    """First 12 hex digits of sha256 over the files' names, sizes and contents."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + str(path.stat().st_size).encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def require_model_files(directory: Path, names: tuple[str, ...], kind: str) -> None:
    """Raise `ModelLoadError` naming what `directory` lacks of the `kind` model's `names`."""
    missing = [name for name in names if not (directory / name).is_file()]
    if missing:
        raise ModelLoadError(
            f"{kind} model {directory} is missing {', '.join(missing)} "
            f"(a {kind} directory holds {', '.join(names)})"
        )


def is_model2vec_dir(directory: Path) -> bool:
    """True when `directory` holds the three model2vec files (and is not a transformer's:
    a BERT model's directory has the same three names)."""
    if not all((Path(directory) / name).is_file() for name in MODEL2VEC_FILES):
        return False
    try:
        config = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True  # the loader reports what is wrong with it
    return not (isinstance(config, dict) and config.get("model_type") == "bert")


class Model2VecEmbedder:
    """A model2vec static model: token vectors averaged per text; offline."""

    kind = "model2vec"

    def __init__(self, directory: Path, label: str | None = None) -> None:
        import numpy as np

        directory = Path(directory).expanduser()
        require_model_files(directory, MODEL2VEC_FILES, "model2vec")
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as error:  # pragma: no cover - both are declared dependencies
            raise ModelLoadError(f"model2vec needs {error.name}; pip install it") from None
        try:
            tensors = load_file(str(directory / "model.safetensors"))
            tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
            config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        except Exception as error:  # noqa: BLE001 - any corrupt file is one clear error
            raise ModelLoadError(f"model2vec model {directory} cannot be read: {error}") from None
        embeddings = tensors.get("embeddings", tensors.get("embedding.weight"))
        if embeddings is None or embeddings.ndim != 2 or embeddings.shape[0] == 0:
            raise ModelLoadError(f"{directory}/model.safetensors has no 2-D 'embeddings' tensor")
        self._vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
        weights = tensors.get("weights")
        mapping = tensors.get("mapping")
        # Quantised vocabularies (model2vec >= 0.5): token id -> row `mapping`, and a weight
        # per token id; expanded once here to one row per token id.
        if mapping is not None:
            mapping = np.asarray(mapping, dtype=np.int64)
            if mapping.ndim != 1 or mapping.min() < 0 or mapping.max() >= len(self._vectors):
                raise ModelLoadError(f"{directory}/model.safetensors: 'mapping' is out of range")
            self._vectors = self._vectors[mapping]
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float32).reshape(-1)
            if weights.shape[0] != self._vectors.shape[0]:
                raise ModelLoadError(
                    f"{directory}/model.safetensors: 'weights' has the wrong length"
                )
            self._vectors = self._vectors * weights[:, None]
        if not isinstance(config, dict):
            config = {}
        self._normalize = bool(config.get("normalize", True))
        tokenizer.no_padding()
        tokenizer.enable_truncation(_MAX_TOKENS)
        self._tokenizer = tokenizer
        unk = None
        model = json.loads(tokenizer.to_str()).get("model", {})
        unk_token = model.get("unk_token")
        if isinstance(unk_token, str):
            unk = tokenizer.token_to_id(unk_token)
        # As model2vec does: the unknown token is dropped, nothing else.
        self._skip = {unk} if unk is not None else set()
        self.directory = directory
        self.dim = int(self._vectors.shape[1])
        self.model_name = label or directory.name
        self.fingerprint = fingerprint_files([directory / name for name in MODEL2VEC_FILES])
        self.name = f"model2vec:{self.model_name}:{self.dim}:{self.fingerprint}"

    def embed(self, texts: list[str]) -> np.ndarray:
        """See `engine.index.embed.Embedder.embed`."""
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        rows = self._vectors.shape[0]
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        for row, encoding in enumerate(encodings):
            ids = [i for i in encoding.ids if i not in self._skip and 0 <= i < rows]
            if not ids:
                continue
            vector = self._vectors[ids].mean(axis=0)
            norm = float(np.linalg.norm(vector))
            if norm > 0.0:
                out[row] = vector / norm
        return out


def fastembed_available() -> bool:
    """Whether the optional `fastembed` package can be imported."""
    try:
        import fastembed  # noqa: F401
    except ImportError:
        return False
    return True


class FastEmbedEmbedder:
    """A fastembed (onnxruntime) text model, from the local cache only."""

    kind = "fastembed"

    def __init__(self, model_name: str, cache_dir: Path) -> None:
        import numpy as np

        if not fastembed_available():
            raise ModelLoadError(
                "fastembed is not installed (pip install fastembed); it is an optional extra"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from fastembed import TextEmbedding

        try:
            self._model = TextEmbedding(
                model_name=model_name, cache_dir=str(cache_dir), local_files_only=True
            )
            probe = np.asarray(list(self._model.embed(["probe"])), dtype=np.float32)
        except Exception as error:  # noqa: BLE001 - fastembed raises many kinds
            raise ModelLoadError(
                f"fastembed model {model_name!r} is not in {cache_dir}: {error}"
            ) from None
        self.dim = int(probe.shape[1])
        self.model_name = model_name
        self.fingerprint = hashlib.sha256(probe.tobytes()).hexdigest()[:12]
        self.name = f"fastembed:{model_name}:{self.dim}:{self.fingerprint}"

    def embed(self, texts: list[str]) -> np.ndarray:
        """See `engine.index.embed.Embedder.embed`."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.asarray(list(self._model.embed(list(texts))), dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out
