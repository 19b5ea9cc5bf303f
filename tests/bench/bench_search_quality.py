"""The question eval: does a search find the function a developer describes in words?

Run with `make bench`. CodeSearchNet's protocol on a real code base that is not this project:
functions of a slice of the running interpreter's standard library are copied into a project
with their docstrings removed, and each docstring's first sentence is asked. A hit is right when
it points into that function. Prints MRR@10 and recall@10 for full-text, the lexical side of
hybrid (BM25 with OR over sub-tokens), semantic and hybrid, and hybrid's score for each lexical
weight: on the questions of the "tune" half of the modules (where `LEXICAL_WEIGHT` and the
embedders' `hybrid_lexical_weight` were chosen) and on the held-out "check" half.

`LEINDEX_BENCH_EMBEDDER=SPEC` runs it with that embedder (`transformer:/path/to/all-MiniLM-L6-v2`,
`model2vec:/path/to/dir`; docs/search.md says how to get them offline);
`LEINDEX_BENCH_MODEL=/path/to/model2vec/dir` is short for `model2vec:/path/to/model2vec/dir`.
Without either, the built-in hashing embedder.
"""

from __future__ import annotations

import functools
import os
import random
import sysconfig
from pathlib import Path

import pytest

from engine.index import Engine, searcher
from engine.index.embedder_choice import load_embedder
from tests.integration.question_eval import (
    Question,
    all_modes,
    build_question_corpus,
    hybrid_with_weight,
    score,
)

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Modules (files, or packages read recursively) of many kinds: parsing, networking, data, OS.
MODULES = (
    "argparse", "ast", "calendar", "configparser", "csv", "dataclasses", "datetime", "difflib",
    "email", "fractions", "ftplib", "gettext", "gzip", "heapq", "http", "imaplib", "inspect",
    "ipaddress", "json", "logging", "mailbox", "optparse", "pathlib", "pdb", "pickle",
    "plistlib", "pprint", "random", "shutil", "smtplib", "statistics", "string", "subprocess",
    "tarfile", "tempfile", "textwrap", "threading", "tokenize", "turtle", "urllib", "uuid",
    "zipfile", "asyncio", "concurrent", "importlib", "xml", "sqlite3", "unittest", "ctypes",
)  # fmt: skip
# Questions asked per half (a seeded sample), so one run stays within a few minutes.
QUESTIONS_PER_HALF = 400
WEIGHTS = tuple(round(step / 10, 1) for step in range(11))
# Hybrid may trail its better half by this much on the held-out half (sampling noise).
EPSILON = 0.01
# Read at import: the `tmp_leindex_home` fixture clears every LEINDEX_* variable.
BENCH_MODEL = os.environ.get("LEINDEX_BENCH_MODEL", "").strip()
BENCH_EMBEDDER = os.environ.get("LEINDEX_BENCH_EMBEDDER", "").strip()


def _sources() -> dict[str, str]:
    sources = {}
    for name in MODULES:
        target = STDLIB / name
        files = sorted(target.rglob("*.py")) if target.is_dir() else [STDLIB / f"{name}.py"]
        for path in files:
            rel = path.relative_to(STDLIB).as_posix()
            if "test" in rel.split("/")[:-1] or not path.is_file():
                continue
            sources[rel] = path.read_text(encoding="utf-8", errors="replace")
    return sources


def _halves(questions: list[Question]) -> tuple[list[Question], list[Question]]:
    """Split by module (alternate modules), so no module's vocabulary leaks across halves."""
    tune, check = [], []
    for question in questions:
        module = question.path.split("/")[0].removesuffix(".py")
        (tune if MODULES.index(module) % 2 == 0 else check).append(question)
    rng = random.Random(12)
    return (
        rng.sample(tune, min(QUESTIONS_PER_HALF, len(tune))),
        rng.sample(check, min(QUESTIONS_PER_HALF, len(check))),
    )


@pytest.mark.timeout(1800)
def test_question_eval(tmp_path, tmp_leindex_home, monkeypatch):
    root = tmp_path / "stdlib-questions"
    questions = build_question_corpus(_sources(), root)
    tune, check = _halves(questions)
    spec = BENCH_EMBEDDER or "hashing"
    if BENCH_MODEL:
        spec = f"model2vec:{Path(BENCH_MODEL).expanduser().resolve()}"
    embedder = load_embedder(spec, tmp_leindex_home)  # a model that cannot load fails the run
    engine = Engine(home=tmp_leindex_home, watch_files=False, embedder=embedder)
    try:
        project = engine.add_project(root)
        print(
            f"\nembedder: {engine.embedder.name}\n"
            f"corpus: {len(project.manifest.files)} files, {len(questions)} questions; "
            f"asked: {len(tune)} (tune) + {len(check)} (check)"
        )
        table = {
            name: (score(tune, run), score(check, run)) for name, run in all_modes(engine).items()
        }
        # The sweep asks every question once per weight: the nearest chunks of a question do
        # not depend on the weight, so they are computed once.
        monkeypatch.setattr(
            searcher, "semantic_chunks", functools.lru_cache(maxsize=None)(searcher.semantic_chunks)
        )
        sweep = {
            weight: (score(tune, hybrid_with_weight(engine, weight)).mrr,
                     score(check, hybrid_with_weight(engine, weight)).mrr)
            for weight in WEIGHTS
        }  # fmt: skip
    finally:
        engine.close()
    print("| mode | MRR@10 (tune) | recall@10 (tune) | MRR@10 (check) | recall@10 (check) |")
    print("| --- | --- | --- | --- | --- |")
    for name, (on_tune, on_check) in table.items():
        print(
            f"| {name} | {on_tune.mrr:.3f} | {on_tune.recall:.3f} "
            f"| {on_check.mrr:.3f} | {on_check.recall:.3f} |"
        )
    in_use = searcher.hybrid_lexical_weight(project)
    print(f"hybrid MRR@10 by lexical weight (in use: {in_use}):")
    print("| weight | " + " | ".join(f"{w:.1f}" for w in WEIGHTS) + " |")
    print("| --- |" + " --- |" * len(WEIGHTS))
    print("| tune | " + " | ".join(f"{sweep[w][0]:.3f}" for w in WEIGHTS) + " |")
    print("| check | " + " | ".join(f"{sweep[w][1]:.3f}" for w in WEIGHTS) + " |")
    check_of = {name: on_check for name, (_tune, on_check) in table.items()}
    better_half = max(check_of["lexical (BM25, OR)"].mrr, check_of["semantic"].mrr)
    assert check_of["hybrid"].mrr >= better_half - EPSILON
    assert check_of["lexical (BM25, OR)"].mrr > check_of["full-text"].mrr
