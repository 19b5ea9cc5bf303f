"""Real embedding models, offline: a tiny model2vec model built here, loaded and used."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from engine.config import LeIndexConfig, load_config
from engine.config.schema import IndexConfig
from engine.index import embedder_choice
from engine.index.embed import HashingEmbedder
from engine.index.embedder_choice import choose_embedder, configured_spec, list_local_models
from engine.index.engine import Engine
from engine.index.model_embedders import Model2VecEmbedder, ModelLoadError

CODE = [
    "def parse_config(path): return yaml.safe_load(open(path))",
    "class HttpClient: def fetch(self, url): return requests.get(url)",
    "def compress_bytes(data): return zlib.compress(data)",
    "zebra quantum ledger accounting for zebrafish",
]
DIM = 64


def make_model(directory: Path, dim: int = DIM, seed: int = 0) -> Path:
    """A model2vec-format model: a WordPiece vocabulary trained on CODE, random vectors."""
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordPieceTrainer(vocab_size=200, special_tokens=["[UNK]", "[PAD]"])
    tokenizer.train_from_iterator(CODE * 5, trainer)
    tokenizer.save(str(directory / "tokenizer.json"))
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(tokenizer.get_vocab_size(), dim)).astype(np.float32)
    save_file({"embeddings": vectors}, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(
        json.dumps({"model_type": "model2vec", "normalize": True})
    )
    return directory


def config_with(spec: str) -> LeIndexConfig:
    return LeIndexConfig(index=IndexConfig(embedder=spec))


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("LEINDEX_EMBEDDER", raising=False)


def test_model2vec_embeds_unit_vectors_of_its_dim(tmp_path):
    embedder = Model2VecEmbedder(make_model(tmp_path / "tiny"))
    out = embedder.embed(["parse_config path", "", "zebrafish ledger"])
    assert out.shape == (3, DIM) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out[[0, 2]], axis=1), 1.0, atol=1e-5)
    assert not out[1].any()
    assert embedder.name.startswith(f"model2vec:tiny:{DIM}:") and len(embedder.fingerprint) == 12


def test_fingerprint_changes_with_the_vectors(tmp_path):
    one = Model2VecEmbedder(make_model(tmp_path / "m", seed=1))
    two = Model2VecEmbedder(make_model(tmp_path / "m", seed=2))
    assert one.name != two.name


def test_config_key_and_env_select_the_model(tmp_path, monkeypatch):
    home = tmp_path / "home"
    make_model(home / "models" / "org__tiny")
    (home / "config.yaml").write_text("index:\n  embedder: model2vec:org/tiny\n")
    loaded = load_config(home, environ={})
    assert loaded.config.index.embedder == "model2vec:org/tiny"
    assert "global file" in loaded.sources["index.embedder"]
    choice = choose_embedder(configured_spec(loaded.config, environ={}), home)
    assert choice.warning is None and choice.embedder.dim == DIM
    env = {"LEINDEX_EMBEDDER": "hashing"}
    assert load_config(home, environ=env).sources["index.embedder"] == "env LEINDEX_EMBEDDER"
    assert configured_spec(loaded.config, environ=env) == "hashing"


def test_hf_cache_layout_is_found_offline(tmp_path):
    hub = tmp_path / "hub"
    snapshot = hub / "models--minishlab--potion-x" / "snapshots" / "abc"
    make_model(snapshot)
    found = embedder_choice.find_model2vec_dir(
        "minishlab/potion-x", tmp_path, {"HF_HUB_CACHE": str(hub)}
    )
    assert found == snapshot


def test_missing_model_is_one_line_and_falls_back(tmp_path):
    with pytest.raises(ModelLoadError) as raised:
        embedder_choice.load_embedder("model2vec:nope", tmp_path, {})
    assert "\n" not in str(raised.value) and "leindex models pull nope" in str(raised.value)
    choice = choose_embedder(f"model2vec:{tmp_path / 'absent'}", tmp_path, {})
    assert isinstance(choice.embedder, HashingEmbedder) and "built-in" in choice.warning
    bad = choose_embedder("word2vec:x", tmp_path, {})
    assert isinstance(bad.embedder, HashingEmbedder) and "not one of" in bad.warning


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "config_loader.py").write_text(CODE[0] + "\n")
    (root / "http.py").write_text(CODE[1] + "\n")
    (root / "zebra.py").write_text(CODE[3] + "\n")
    return root


def test_engine_indexes_and_searches_with_the_configured_model(tmp_path):
    home = tmp_path / "home"
    make_model(home / "models" / "tiny")
    engine = Engine(
        home=home, config_provider=lambda: config_with("model2vec:tiny"), watch_files=False
    )
    try:
        assert engine.embedder.dim == DIM and engine.embedder_warning is None
        project = engine.add_project(_project(tmp_path))
        assert project.vectors.dim == DIM
        hits = engine.search("zebrafish quantum ledger", mode="semantic", limit=1).hits
        assert hits and hits[0].path.endswith("zebra.py")
        project.persist()
        meta = json.loads((project.index_dir / "vectors.meta.json").read_text())
        assert meta["embedder"] == engine.embedder.name and meta["dim"] == DIM
    finally:
        engine.close()


def test_switching_embedder_rebuilds_in_background_while_searches_answer(tmp_path):
    home = tmp_path / "home"
    make_model(home / "models" / "tiny")
    spec = {"value": "hashing"}
    engine = Engine(
        home=home, config_provider=lambda: config_with(spec["value"]), watch_files=False
    )
    try:
        project = engine.add_project(_project(tmp_path))
        assert project.vectors.dim == HashingEmbedder().dim
        gate = threading.Event()
        started = threading.Event()
        model = Model2VecEmbedder(home / "models" / "tiny")
        real_embed = model.embed

        def slow_embed(texts):
            started.set()
            gate.wait(10)
            return real_embed(texts)

        model.embed = slow_embed  # type: ignore[method-assign]
        threads = engine.switch_embedder(model)
        assert started.wait(10)
        assert project.vectors_rebuilding
        # Meanwhile: the old vectors answer, full-text too.
        old = engine.search("zebrafish ledger", mode="semantic", limit=3).hits
        assert old and project.vectors.dim == HashingEmbedder().dim
        assert engine.search("compress", mode="fulltext", limit=3) is not None
        gate.set()
        for thread in threads:
            thread.join(10)
        assert not project.vectors_rebuilding
        assert project.vectors.dim == DIM and project.embedder is model
        assert project.manifest.embedder == model.name
        hits = engine.search("zebrafish quantum ledger", mode="semantic", limit=1).hits
        assert hits and hits[0].path.endswith("zebra.py")
    finally:
        engine.close()


def test_apply_config_switches_when_the_setting_changes(tmp_path):
    home = tmp_path / "home"
    make_model(home / "models" / "tiny")
    spec = {"value": "hashing"}
    engine = Engine(
        home=home, config_provider=lambda: config_with(spec["value"]), watch_files=False
    )
    try:
        engine.add_project(_project(tmp_path))
        assert engine.apply_embedder_config() == []
        spec["value"] = "model2vec:tiny"
        engine.apply_config()  # what a reload calls
        for thread in list(engine._threads):
            thread.join(10)
        assert engine.registry.list()[0].vectors.dim == DIM
    finally:
        engine.close()


def test_models_list_shows_local_models_and_the_active_one(tmp_path, monkeypatch, capsys):
    from leindex_tui.cli import main

    home = tmp_path / "home"
    make_model(home / "models" / "org__tiny")
    (home / "config.yaml").write_text("index:\n  embedder: model2vec:org/tiny\n")
    monkeypatch.setenv("LEINDEX_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    assert any(row["spec"] == "model2vec:org/tiny" for row in list_local_models(home))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "* model2vec:org/tiny" in out and f"dim {DIM}" in out


def test_models_pull_says_it_downloads_and_fails_clearly_offline(tmp_path, monkeypatch, capsys):
    from leindex_tui.cli import main

    def offline(**kwargs):
        raise OSError("Name or service not known\nmore detail")

    monkeypatch.setattr(embedder_choice, "_hf_snapshot_download", offline)
    monkeypatch.setenv("LEINDEX_HOME", str(tmp_path / "home"))
    assert main(["models", "pull", "minishlab/potion-code-16M"]) == 1
    captured = capsys.readouterr()
    assert "Downloading minishlab/potion-code-16M" in captured.out
    assert captured.err.strip().count("\n") == 0 and "could not download" in captured.err


def test_models_pull_saves_a_model_it_can_load(tmp_path, monkeypatch):
    def fake(repo_id, local_dir):
        make_model(Path(local_dir))
        return local_dir

    target = embedder_choice.pull_model("org/tiny", tmp_path, downloader=fake)
    assert target == tmp_path / "models" / "org__tiny"
    assert embedder_choice.load_embedder("model2vec:org/tiny", tmp_path, {}).dim == DIM


def test_restart_with_another_embedder_keeps_the_index_and_rebuilds_vectors(tmp_path, caplog):
    home = tmp_path / "home"
    make_model(home / "models" / "tiny")
    root = _project(tmp_path)
    first = Engine(home=home, config_provider=lambda: config_with("hashing"), watch_files=False)
    first.add_project(root)
    first.close()
    second = Engine(
        home=home, config_provider=lambda: config_with("model2vec:tiny"), watch_files=False
    )
    try:
        with caplog.at_level("WARNING"):
            project = second.add_project(root)
        assert not any("rebuilding" in r.getMessage() for r in caplog.records)
        # Opened with the embedder it was saved with; the configured one comes in the background.
        assert second.search("compress", mode="fulltext", limit=3) is not None
        for thread in list(second._threads):
            thread.join(10)
        assert project.vectors.dim == DIM and project.embedder.name == second.embedder.name
        hits = second.search("zebrafish quantum ledger", mode="semantic", limit=1).hits
        assert hits and hits[0].path.endswith("zebra.py")
    finally:
        second.close()


def test_quantised_vocabulary_with_mapping_and_weights(tmp_path):
    directory = make_model(tmp_path / "q")
    plain = Model2VecEmbedder(directory)
    tokens = Tokenizer.from_file(str(directory / "tokenizer.json")).get_vocab_size()
    rows = np.random.default_rng(3).normal(size=(4, DIM)).astype(np.float32)
    mapping = (np.arange(tokens) % 4).astype(np.int64)
    weights = np.linspace(0.5, 2.0, tokens).astype(np.float32)
    save_file(
        {"embeddings": rows, "mapping": mapping, "weights": weights},
        str(directory / "model.safetensors"),
    )
    quantised = Model2VecEmbedder(directory)
    assert quantised.dim == DIM and quantised.name != plain.name
    ids = [i for i in quantised._tokenizer.encode("zebrafish ledger", add_special_tokens=False).ids]
    expected = (rows[mapping[ids]] * weights[ids][:, None]).mean(axis=0)
    expected /= np.linalg.norm(expected)
    assert np.allclose(quantised.embed(["zebrafish ledger"])[0], expected, atol=1e-5)
    save_file({"embeddings": rows, "mapping": mapping + 10}, str(directory / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="out of range"):
        Model2VecEmbedder(directory)


def test_corrupt_model_file_is_a_load_error(tmp_path):
    directory = make_model(tmp_path / "bad")
    (directory / "model.safetensors").write_bytes(b"not safetensors")
    choice = choose_embedder(f"model2vec:{directory}", tmp_path, {})
    assert isinstance(choice.embedder, HashingEmbedder) and "cannot be read" in choice.warning
