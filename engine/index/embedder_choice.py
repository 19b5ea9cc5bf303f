"""Which embedder to use: the `index.embedder` setting (or `LEINDEX_EMBEDDER`) made into one.

A setting is `hashing` (the built-in, model-free default), `model2vec:NAME`,
`transformer:NAME` (a sentence-transformers BERT model run with numpy) or `fastembed:NAME`.
NAME is a directory, or a model name looked up in `LEINDEX_HOME/models/` and then in the
Hugging Face cache (`HF_HUB_CACHE`, `HF_HOME/hub`, `~/.cache/huggingface/hub`).
Nothing here downloads: the network is only used by `pull_model` (`leindex models pull`).
A model that cannot be loaded gives a one-line warning and the built-in embedder.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.index.embed import Embedder, HashingEmbedder
from engine.index.model_embedders import (
    FastEmbedEmbedder,
    Model2VecEmbedder,
    ModelLoadError,
    fastembed_available,
    is_model2vec_dir,
)

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "hashing"
EMBEDDER_ENV = "LEINDEX_EMBEDDER"
KINDS = ("hashing", "model2vec", "transformer", "fastembed")
_OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@dataclass(frozen=True)
class EmbedderChoice:
    """The embedder in use, the setting asked for, and why they differ (if they do)."""

    embedder: Embedder
    requested: str
    warning: str | None = None


def _is_transformer_dir(directory: Path) -> bool:
    # The module (numpy with it) is imported only when a transformer may be in use: a
    # restart's first full-text search must not pay for it.
    from engine.index.transformer_embedder import is_transformer_dir

    return is_transformer_dir(directory)


def parse_spec(spec: str) -> tuple[str, str]:
    """`model2vec:NAME` -> ("model2vec", "NAME"); raises ValueError for an unknown kind."""
    text = (spec or "").strip()
    if not text or text == DEFAULT_EMBEDDER:
        return DEFAULT_EMBEDDER, ""
    kind, sep, name = text.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS or (kind != DEFAULT_EMBEDDER and not (sep and name.strip())):
        raise ValueError(
            f"embedder {spec!r} is not one of: hashing, model2vec:NAME_OR_DIR, "
            "transformer:NAME_OR_DIR, fastembed:NAME"
        )
    return kind, name.strip()


def models_dir(home: Path) -> Path:
    """`LEINDEX_HOME/models`, where `leindex models pull` puts models."""
    return Path(home) / "models"


def hf_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The Hugging Face hub cache directory (read only)."""
    environ = os.environ if environ is None else environ
    if environ.get("HF_HUB_CACHE"):
        return Path(environ["HF_HUB_CACHE"]).expanduser()
    if environ.get("HF_HOME"):
        return Path(environ["HF_HOME"]).expanduser() / "hub"
    return Path("~/.cache/huggingface/hub").expanduser()


def local_dir_name(name: str) -> str:
    """`minishlab/potion-code-16M` -> `minishlab__potion-code-16M` (one directory level)."""
    return name.strip().strip("/").replace("/", "__")


def find_model2vec_dir(
    name: str, home: Path, environ: Mapping[str, str] | None = None, kind: str = "model2vec"
) -> Path | None:
    """The local directory holding model `name` of `kind` (model2vec or transformer), or
    None; never downloads."""
    usable = _is_transformer_dir if kind == "transformer" else is_model2vec_dir
    candidates: list[Path] = []
    as_path = Path(name).expanduser()
    if as_path.is_absolute() or name.startswith("."):
        candidates.append(as_path)
    else:
        candidates.append(models_dir(home) / local_dir_name(name))
        candidates.append(models_dir(home) / name)
        hub = hf_cache_dir(environ) / ("models--" + name.replace("/", "--"))
        snapshots = hub / "snapshots"
        ref = hub / "refs" / "main"
        try:
            if ref.is_file():
                candidates.append(snapshots / ref.read_text(encoding="utf-8").strip())
            if snapshots.is_dir():
                candidates.extend(sorted(snapshots.iterdir()))
        except OSError:
            pass
    for candidate in candidates:
        try:
            if usable(candidate):
                return candidate
        except OSError:
            continue
    return None


def load_embedder(spec: str, home: Path, environ: Mapping[str, str] | None = None) -> Embedder:
    """The embedder for `spec`; raises ModelLoadError (one line) when it cannot be loaded."""
    environ = os.environ if environ is None else environ
    try:
        kind, name = parse_spec(spec)
    except ValueError as error:
        raise ModelLoadError(str(error)) from None
    if kind == DEFAULT_EMBEDDER:
        return HashingEmbedder()
    for variable in _OFFLINE_ENV:
        os.environ.setdefault(variable, "1")  # no library below may reach the network
    if kind in ("model2vec", "transformer"):
        directory = find_model2vec_dir(name, home, environ, kind)
        if directory is None:
            raise ModelLoadError(
                f"{kind} model {name!r} is not available locally (looked in "
                f"{models_dir(home)} and {hf_cache_dir(environ)}); "
                f"run `leindex models pull {name}` to download it"
            )
        label = None if Path(name).expanduser().is_absolute() else local_dir_name(name)
        if kind == "transformer":
            from engine.index.transformer_embedder import TransformerEmbedder

            return TransformerEmbedder(directory, label=label, reserve=_reserve_model)
        return Model2VecEmbedder(directory, label=label)
    return FastEmbedEmbedder(name, models_dir(home) / "fastembed")


def _reserve_model(nbytes: int):
    """Reserve a model's weights before they are read; refused, the model is not loaded."""
    from engine.memory.reservations import Purpose, ReservationRefused, get_default_reserver
    from engine.priority import ProjectPriority

    try:
        return get_default_reserver().reserve(nbytes, Purpose.EMBEDDING_MODEL, ProjectPriority.HIGH)
    except ReservationRefused as error:
        raise ModelLoadError(f"no room in the memory budget for the model: {error}") from None


def choose_embedder(
    spec: str, home: Path, environ: Mapping[str, str] | None = None
) -> EmbedderChoice:
    """Like `load_embedder`, but a model that cannot be loaded falls back with a warning."""
    try:
        return EmbedderChoice(load_embedder(spec, home, environ), spec or DEFAULT_EMBEDDER)
    except ModelLoadError as error:
        warning = f"{error}; using the built-in hashing embedder"
        log.warning("%s", warning)
        return EmbedderChoice(HashingEmbedder(), spec, warning)


def configured_spec(config: Any, environ: Mapping[str, str] | None = None) -> str:
    """The setting in force: `LEINDEX_EMBEDDER` if set, else `index.embedder`, else hashing."""
    environ = os.environ if environ is None else environ
    from_env = environ.get(EMBEDDER_ENV, "").strip()
    if from_env:
        return from_env
    index = getattr(config, "index", None)
    value = getattr(index, "embedder", None)
    return value if isinstance(value, str) and value.strip() else DEFAULT_EMBEDDER


def list_local_models(home: Path, environ: Mapping[str, str] | None = None) -> list[dict]:
    """Models usable without the network: the built-in one, model2vec dirs, fastembed status."""
    rows: list[dict] = [{"spec": DEFAULT_EMBEDDER, "kind": "hashing", "path": "(built in)"}]
    seen: set[Path] = set()
    roots: list[tuple[Path, str]] = [(models_dir(home), "leindex")]
    roots.append((hf_cache_dir(environ), "hf-cache"))
    for root, where in roots:
        try:
            entries = sorted(root.iterdir()) if root.is_dir() else []
        except OSError:
            entries = []
        for entry in entries:
            directories: list[tuple[str, Path]] = []
            if where == "leindex":
                directories.append((entry.name.replace("__", "/"), entry))
            elif entry.name.startswith("models--"):
                name = entry.name[len("models--") :].replace("--", "/")
                try:
                    snapshots = sorted((entry / "snapshots").iterdir())
                except OSError:
                    snapshots = []
                directories.extend((name, snapshot) for snapshot in snapshots[-1:])
            for name, directory in directories:
                try:
                    kind = (
                        "transformer"
                        if _is_transformer_dir(directory)
                        else "model2vec"
                        if is_model2vec_dir(directory)
                        else None
                    )
                except OSError:
                    kind = None
                if kind and directory.resolve() not in seen:
                    seen.add(directory.resolve())
                    rows.append({"spec": f"{kind}:{name}", "kind": kind, "path": str(directory)})
    rows.append(
        {
            "spec": "fastembed:NAME",
            "kind": "fastembed",
            "path": "installed" if fastembed_available() else "unavailable (pip install fastembed)",
        }
    )
    return rows


Downloader = Callable[..., str]


def _hf_snapshot_download(repo_id: str, local_dir: str) -> str:
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id=repo_id, local_dir=local_dir)


def pull_model(name: str, home: Path, downloader: Downloader | None = None) -> Path:
    """Download model `name` (a Hugging Face repo id: model2vec, or a sentence-transformers
    BERT model) into `LEINDEX_HOME/models/`.

    The one place that uses the network. Raises ModelLoadError with one line on failure.
    """
    kind, _, rest = name.partition(":")
    if kind in ("model2vec", "transformer") and rest:
        name = rest
    elif kind == "fastembed" and rest:
        raise ModelLoadError("fastembed downloads its own models: run fastembed once online")
    if not name.strip() or name.strip() == DEFAULT_EMBEDDER:
        raise ModelLoadError("give a model name such as minishlab/potion-code-16M")
    target = models_dir(home) / local_dir_name(name)
    models_dir(home).mkdir(parents=True, exist_ok=True, mode=0o700)
    download = downloader or _hf_snapshot_download
    saved = {variable: os.environ.pop(variable, None) for variable in _OFFLINE_ENV}
    try:
        download(repo_id=name.strip(), local_dir=str(target))
    except Exception as error:  # noqa: BLE001 - network, auth, not found: one line each
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelLoadError(f"could not download {name}: {first}") from None
    finally:
        for variable, value in saved.items():
            if value is not None:
                os.environ[variable] = value
    if not (is_model2vec_dir(target) or _is_transformer_dir(target)):
        raise ModelLoadError(
            f"{name} was downloaded to {target} but is neither a model2vec model nor a "
            "sentence-transformers BERT model"
        )
    return target


def embedder_for_name(name: str, home: Path, environ: Mapping[str, str] | None = None):
    """The embedder whose `name` is exactly `name`, if it is still available locally."""
    if name.startswith("hashing-v2-"):
        try:
            hashing = HashingEmbedder(int(name.rpartition("-")[2]))
        except ValueError:
            return None
        return hashing if hashing.name == name else None
    parts = name.split(":")
    if len(parts) == 4 and parts[0] in ("model2vec", "transformer"):
        for candidate in dict.fromkeys((parts[1].replace("__", "/"), parts[1])):
            directory = find_model2vec_dir(candidate, home, environ, parts[0])
            if directory is None:
                continue
            try:
                if parts[0] == "transformer":
                    from engine.index.transformer_embedder import TransformerEmbedder

                    model = TransformerEmbedder(directory, label=parts[1], reserve=_reserve_model)
                else:
                    model = Model2VecEmbedder(directory, label=parts[1])
            except ModelLoadError:
                continue
            if model.name == name:
                return model
            getattr(model, "close", lambda: None)()
    return None


def saved_embedder(index_dir: Path, current: str, home: Path) -> Embedder | None:
    """The embedder an index in `index_dir` was saved with, when it is not `current` and can
    still be loaded (so the index opens as it is and vectors are rebuilt in the background)."""
    from engine.index.manifest import MANIFEST_FILE, Manifest, ManifestError

    try:  # the header line only: a big project's file list is not read twice
        name = Manifest.read_header(Path(index_dir) / MANIFEST_FILE).embedder
    except ManifestError:
        return None
    if not isinstance(name, str) or name == current:
        return None
    return embedder_for_name(name, home)
