"""The question eval in small (the full one is tests/bench/bench_search_quality.py).

Three standard-library modules, copied with their docstrings removed, asked each function's
docstring's first sentence. It checks an order, not a score: hybrid is not worse than its
better half, and the lexical side answers questions that full-text search cannot.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from engine.index import Engine
from tests.integration.question_eval import Scores, all_modes, build_question_corpus, score

STDLIB = Path(sysconfig.get_paths()["stdlib"])
MODULES = ("ipaddress.py", "difflib.py", "csv.py")
# Hybrid may trail its better half by this much (a few questions out of dozens).
EPSILON = 0.02


@pytest.fixture(scope="module")
def scores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scores]:
    root = tmp_path_factory.mktemp("questions")
    sources = {name: (STDLIB / name).read_text(encoding="utf-8") for name in MODULES}
    questions = build_question_corpus(sources, root / "project")
    assert len(questions) >= 30
    engine = Engine(home=root / "leindex-home", watch_files=False)
    try:
        engine.add_project(root / "project")
        return {name: score(questions, run) for name, run in all_modes(engine).items()}
    finally:
        engine.close()


def test_hybrid_is_not_worse_than_its_better_half(scores):
    better_half = max(scores["lexical (BM25, OR)"].mrr, scores["semantic"].mrr)
    assert scores["hybrid"].mrr >= better_half - EPSILON


def test_lexical_answers_questions_that_fulltext_cannot(scores):
    assert scores["lexical (BM25, OR)"].mrr > scores["full-text"].mrr
    assert scores["lexical (BM25, OR)"].recall > scores["full-text"].recall
