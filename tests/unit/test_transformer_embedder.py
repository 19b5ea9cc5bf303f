"""The numpy BERT embedder, offline: a tiny random BERT built here, checked against a plain
float64 forward pass written out step by step, then loaded and used as the engine would."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from engine.index import embedder_choice
from engine.index.embed import HashingEmbedder
from engine.index.engine import Engine
from engine.index.model_embedders import ModelLoadError, is_model2vec_dir
from engine.index.transformer_embedder import TransformerEmbedder, _gelu, is_transformer_dir
from engine.memory.reservations import (
    Purpose,
    ReservationRefused,
    ReservationRequest,
    UnlimitedReserver,
    set_default_reserver,
)

CODE = [
    "def parse_config(path): return yaml.safe_load(open(path))",
    "class HttpClient: def fetch(self, url): return requests.get(url)",
    "def compress_bytes(data): return zlib.compress(data)",
    "zebra quantum ledger accounting for zebrafish",
]
HIDDEN, HEADS, LAYERS, INTERMEDIATE, POSITIONS = 16, 2, 2, 32, 64


def make_bert(directory: Path, seed: int = 0, pooling: str = "mean", max_seq: int = 48) -> Path:
    """A sentence-transformers-layout BERT: a WordPiece tokenizer trained on CODE with BERT's
    [CLS] ... [SEP] template, and random weights."""
    directory.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    # The vocabulary is built, not trained: WordPieceTrainer's result varies from run to run
    # (tokens of equal count), and the random weights follow the ids. Every word of CODE, and
    # every character alone and as a continuation, in sorted order.
    words = {
        word.lower()
        for text in CODE
        for word, _span in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(text)
    }
    characters = {character for word in words for character in word}
    pieces = sorted(words | characters | {f"##{character}" for character in characters})
    tokenizer.model = models.WordPiece(
        {token: number for number, token in enumerate(specials + pieces)}, unk_token="[UNK]"
    )
    tokenizer.post_processor = processors.BertProcessing(
        ("[SEP]", tokenizer.token_to_id("[SEP]")), ("[CLS]", tokenizer.token_to_id("[CLS]"))
    )
    tokenizer.save(str(directory / "tokenizer.json"))
    rng = np.random.default_rng(seed)

    def normal(*shape: int) -> np.ndarray:
        return rng.normal(scale=0.3, size=shape).astype(np.float32)

    tensors = {
        "embeddings.word_embeddings.weight": normal(tokenizer.get_vocab_size(), HIDDEN),
        "embeddings.position_embeddings.weight": normal(POSITIONS, HIDDEN),
        "embeddings.token_type_embeddings.weight": normal(2, HIDDEN),
        "embeddings.LayerNorm.weight": 1 + normal(HIDDEN),
        "embeddings.LayerNorm.bias": normal(HIDDEN),
    }
    shapes = {
        "attention.self.query": (HIDDEN, HIDDEN),
        "attention.self.key": (HIDDEN, HIDDEN),
        "attention.self.value": (HIDDEN, HIDDEN),
        "attention.output.dense": (HIDDEN, HIDDEN),
        "intermediate.dense": (INTERMEDIATE, HIDDEN),
        "output.dense": (HIDDEN, INTERMEDIATE),
    }
    for layer in range(LAYERS):
        prefix = f"encoder.layer.{layer}."
        for name, (rows, cols) in shapes.items():
            tensors[f"{prefix}{name}.weight"] = normal(rows, cols)  # torch Linear: (out, in)
            tensors[f"{prefix}{name}.bias"] = normal(rows)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[f"{prefix}{norm}.weight"] = 1 + normal(HIDDEN)
            tensors[f"{prefix}{norm}.bias"] = normal(HIDDEN)
    save_file(tensors, str(directory / "model.safetensors"))
    config = {
        "model_type": "bert",
        "hidden_size": HIDDEN,
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "intermediate_size": INTERMEDIATE,
        "max_position_embeddings": POSITIONS,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
    }
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq}))
    (directory / "1_Pooling").mkdir(exist_ok=True)
    (directory / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "pooling_mode_mean_tokens": pooling == "mean",
                "pooling_mode_cls_token": pooling == "cls",
            }
        )
    )
    return directory


def reference_vector(directory: Path, text: str, pooling: str = "mean") -> np.ndarray:
    """BERT written out plainly in float64, one text, no padding, exact erf GELU."""
    tensors = {
        k: v.astype(np.float64)
        for k, v in __import__("safetensors.numpy")
        .numpy.load_file(str(directory / "model.safetensors"))
        .items()
    }
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    ids = tokenizer.encode(text).ids

    def norm(x, prefix):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * tensors[prefix + ".weight"] + tensors[
            prefix + ".bias"
        ]

    def linear(x, prefix):
        return x @ tensors[prefix + ".weight"].T + tensors[prefix + ".bias"]

    e = "embeddings."
    x = (
        tensors[e + "word_embeddings.weight"][ids]
        + tensors[e + "position_embeddings.weight"][: len(ids)]
        + tensors[e + "token_type_embeddings.weight"][0]
    )
    x = norm(x, e + "LayerNorm")
    width = HIDDEN // HEADS
    gelu = np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}."
        q, k, v = (linear(x, p + f"attention.self.{n}") for n in ("query", "key", "value"))
        heads = []
        for h in range(HEADS):
            cols = slice(h * width, (h + 1) * width)
            scores = q[:, cols] @ k[:, cols].T / math.sqrt(width)
            weights = np.exp(scores - scores.max(-1, keepdims=True))
            weights /= weights.sum(-1, keepdims=True)
            heads.append(weights @ v[:, cols])
        x = norm(linear(np.concatenate(heads, -1), p + "attention.output.dense") + x,
                 p + "attention.output.LayerNorm")  # fmt: skip
        hidden = gelu(linear(x, p + "intermediate.dense"))
        x = norm(linear(hidden, p + "output.dense") + x, p + "output.LayerNorm")
    pooled = x[0] if pooling == "cls" else x.mean(0)
    return pooled / np.linalg.norm(pooled)


@pytest.fixture
def tiny(tmp_path) -> Path:
    return make_bert(tmp_path / "tiny-bert")


def test_embeds_unit_vectors_of_its_hidden_size(tiny):
    embedder = TransformerEmbedder(tiny)
    out = embedder.embed(["parse_config path", "zebrafish ledger"])
    assert out.shape == (2, HIDDEN) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert embedder.name.startswith(f"transformer:tiny-bert:{HIDDEN}:")
    assert len(embedder.fingerprint) == 12
    assert embedder.embed([]).shape == (0, HIDDEN)


def test_matches_a_plain_forward_pass_whatever_the_batch(tiny):
    texts = ["zebra", CODE[0], CODE[1] + " " + CODE[2], "x"]
    out = TransformerEmbedder(tiny).embed(texts)  # mixed lengths: one padded batch
    for row, text in enumerate(texts):
        assert np.allclose(out[row], reference_vector(tiny, text), atol=1e-5)


def test_cls_pooling_when_the_pooling_config_asks_for_it(tmp_path):
    directory = make_bert(tmp_path / "cls", pooling="cls")
    out = TransformerEmbedder(directory).embed([CODE[2]])
    assert np.allclose(out[0], reference_vector(directory, CODE[2], pooling="cls"), atol=1e-5)


def test_long_texts_are_cut_at_max_seq_length(tmp_path):
    directory = make_bert(tmp_path / "short", max_seq=8)
    embedder = TransformerEmbedder(directory)
    long_text = " ".join(CODE * 20)
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    kept = tokenizer.decode(tokenizer.encode(long_text).ids[1:7])
    assert embedder.max_tokens == 8
    assert np.allclose(embedder.embed([long_text])[0], embedder.embed([kept])[0], atol=1e-5)


def test_gelu_is_bert_exact_erf_gelu():
    x = np.linspace(-8, 8, 4001).astype(np.float32)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(float)])
    assert np.abs(_gelu(x.copy()) - exact).max() < 1e-6


def test_unreadable_or_foreign_models_are_one_line_errors(tmp_path, tiny):
    with pytest.raises(ModelLoadError, match="missing"):
        TransformerEmbedder(tmp_path / "absent")
    config = json.loads((tiny / "config.json").read_text())
    (tiny / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    with pytest.raises(ModelLoadError, match="not supported"):
        TransformerEmbedder(tiny)
    (tiny / "config.json").write_text(json.dumps(config))
    (tiny / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="cannot be read"):
        TransformerEmbedder(tiny)


class _RecordingReserver(UnlimitedReserver):
    def __init__(self, refuse: bool = False) -> None:
        super().__init__()
        self.refuse = refuse
        self.requests: list[tuple[int, Purpose]] = []

    def reserve(self, nbytes, purpose, priority, project=None):
        self.requests.append((nbytes, purpose))
        if self.refuse:
            request = ReservationRequest(nbytes, purpose, priority, project)
            raise ReservationRefused(request, 0, "budget full")
        return super().reserve(nbytes, purpose, priority, project)


def test_weights_are_reserved_before_loading_and_released_on_close(tmp_path, tiny):
    reserver = _RecordingReserver()
    previous = set_default_reserver(reserver)
    try:
        embedder = embedder_choice.load_embedder(f"transformer:{tiny}", tmp_path, {})
        size = (tiny / "model.safetensors").stat().st_size
        assert reserver.requests == [(size, Purpose.EMBEDDING_MODEL)]
        assert reserver.reserved_bytes() == size
        embedder.close()
        assert reserver.reserved_bytes() == 0
    finally:
        set_default_reserver(previous)


def test_a_refused_reservation_falls_back_to_the_builtin_embedder(tmp_path, tiny):
    previous = set_default_reserver(_RecordingReserver(refuse=True))
    try:
        choice = embedder_choice.choose_embedder(f"transformer:{tiny}", tmp_path, {})
    finally:
        set_default_reserver(previous)
    assert isinstance(choice.embedder, HashingEmbedder)
    assert "no room in the memory budget" in choice.warning


def test_found_by_name_in_leindex_home_and_listed_as_transformer(tmp_path):
    home = tmp_path / "home"
    directory = make_bert(home / "models" / "org__tiny")
    assert is_transformer_dir(directory) and not is_model2vec_dir(directory)
    embedder = embedder_choice.load_embedder("transformer:org/tiny", home, {})
    assert embedder.name.startswith("transformer:org__tiny:")
    rows = embedder_choice.list_local_models(home, {"HF_HUB_CACHE": str(tmp_path / "hub")})
    assert {"spec": "transformer:org/tiny", "kind": "transformer", "path": str(directory)} in rows
    again = embedder_choice.embedder_for_name(embedder.name, home, {})
    assert again is not None and again.name == embedder.name
    with pytest.raises(ModelLoadError, match="leindex models pull"):
        embedder_choice.load_embedder("model2vec:org/tiny", home, {})


def test_engine_indexes_and_searches_with_a_transformer(tmp_path, tiny):
    root = tmp_path / "proj"
    root.mkdir()
    for number, text in enumerate(CODE):
        (root / f"m{number}.py").write_text(text + "\n")
    embedder = TransformerEmbedder(tiny)
    engine = Engine(home=tmp_path / "home", watch_files=False, embedder=embedder)
    try:
        project = engine.add_project(root)
        assert project.vectors.dim == HIDDEN
        hits = engine.search(CODE[3], mode="semantic", limit=1).hits
        assert hits and hits[0].path == "m3.py"
    finally:
        engine.close()


def test_models_pull_accepts_a_sentence_transformers_model(tmp_path):
    def fake(repo_id, local_dir):
        make_bert(Path(local_dir))
        return local_dir

    target = embedder_choice.pull_model("transformer:org/bert", tmp_path, downloader=fake)
    assert target == tmp_path / "models" / "org__bert"
    assert embedder_choice.load_embedder("transformer:org/bert", tmp_path, {}).dim == HIDDEN


def test_a_corrupt_config_is_a_load_error_not_a_crash(tmp_path, tiny):
    (tiny / "sentence_bert_config.json").write_text("{not json")
    choice = embedder_choice.choose_embedder(f"transformer:{tiny}", tmp_path, {})
    assert isinstance(choice.embedder, HashingEmbedder) and "cannot be read" in choice.warning
