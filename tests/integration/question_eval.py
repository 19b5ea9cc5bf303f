"""The question eval (CodeSearchNet's protocol) shared by the bench and its smoke test.

Python functions are copied into a project with every docstring removed; each function's
docstring's first sentence is a query, and the function is its one right answer. A hit is right
when it points at a line of that function. MRR@10 and recall@10 are computed per mode.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.index import Engine, QuerySyntaxError, searcher
from engine.index.results import SearchHit

RANKS = 10
# CodeSearchNet drops docstrings shorter than three tokens: they say too little to search by.
MIN_QUERY_WORDS = 3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


@dataclass(frozen=True)
class Question:
    """A query and the function (file, 1-based line span) that answers it."""

    query: str
    path: str
    start: int
    end: int

    def answered_by(self, hit: SearchHit) -> bool:
        """Whether `hit` points into the function."""
        return hit.path == self.path and self.start <= hit.line <= self.end


@dataclass(frozen=True)
class Scores:
    """MRR@10 and recall@10 of one mode over the questions."""

    mrr: float
    recall: float


def first_sentence(docstring: str) -> str:
    """The docstring's first sentence (of its first paragraph), on one line."""
    paragraph = inspect.cleandoc(docstring).split("\n\n")[0]
    text = " ".join(paragraph.split())
    return _SENTENCE_END.split(text, maxsplit=1)[0].strip()


def _docstring_lines(node: ast.AST, lines: list[str]) -> tuple[int, int] | None:
    """The 1-based lines holding `node`'s docstring, if it has one that stands on its own lines."""
    body = getattr(node, "body", None)
    if not body or not isinstance(body[0], ast.Expr):
        return None
    value = body[0].value
    if not isinstance(value, ast.Constant) or not isinstance(value.value, str):
        return None
    first, last = body[0].lineno, body[0].end_lineno or body[0].lineno
    if lines[first - 1][: body[0].col_offset].strip():
        return None  # `def f(): "doc"`: shares its line with code
    if lines[last - 1][body[0].end_col_offset :].strip():
        return None
    return first, last


def strip_docstrings(source: str) -> tuple[str, list[tuple[str, str]]] | None:
    """`source` without its docstrings, and (qualified name, query) for each function whose
    docstring gave a query; None if `source` does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    lines = source.split("\n")
    removed: dict[int, str | None] = {}  # 0-based line -> replacement (None: drop)
    queries: list[tuple[str, str]] = []
    for qualname, node in _walk(tree):
        span = _docstring_lines(node, lines)
        if span is None:
            continue
        first, last = span
        only_statement = len(node.body) == 1 and not isinstance(node, ast.Module)
        indent = " " * node.body[0].col_offset
        for number in range(first - 1, last):
            removed[number] = None
        if only_statement:
            removed[first - 1] = indent + "pass"
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            query = first_sentence(node.body[0].value.value)
            if len(query.split()) >= MIN_QUERY_WORDS:
                queries.append((qualname, query))
    kept = [
        text for number, line in enumerate(lines) if (text := removed.get(number, line)) is not None
    ]
    return "\n".join(kept), queries


def _walk(node: ast.AST, prefix: str = "") -> Iterable[tuple[str, ast.AST]]:
    """(qualified name, node) of the module, then of every class and function in it."""
    if isinstance(node, ast.Module):
        yield "", node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{child.name}"
            yield name, child
            yield from _walk(child, name + ".")
        else:
            yield from _walk(child, prefix)


def function_spans(source: str) -> dict[str, tuple[int, int]]:
    """Qualified name -> (first, last) line of each function; names defined twice are left out."""
    spans: dict[str, tuple[int, int]] = {}
    twice: set[str] = set()
    for qualname, node in _walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if qualname in spans:
                twice.add(qualname)
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            spans[qualname] = (first, node.end_lineno or node.lineno)
    return {name: span for name, span in spans.items() if name not in twice}


def build_question_corpus(sources: dict[str, str], root: Path) -> list[Question]:
    """Write `sources` (relative path -> Python text) under `root` without docstrings; return
    the questions, leaving out a query that more than one function shares."""
    found: list[Question] = []
    for rel, source in sorted(sources.items()):
        stripped = strip_docstrings(source)
        if stripped is None:
            continue
        text, queries = stripped
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        spans = function_spans(text)
        for qualname, query in queries:
            if qualname in spans:
                found.append(Question(query, rel, *spans[qualname]))
    counts: dict[str, int] = {}
    for question in found:
        counts[question.query] = counts.get(question.query, 0) + 1
    return [question for question in found if counts[question.query] == 1]


def score(questions: list[Question], run: Callable[[str], list[SearchHit]]) -> Scores:
    """MRR@10 and recall@10 of `run` (a query -> its hits, best first) on `questions`."""
    reciprocal = found = 0.0
    for question in questions:
        for rank, hit in enumerate(run(question.query)[:RANKS], start=1):
            if question.answered_by(hit):
                reciprocal += 1.0 / rank
                found += 1
                break
    count = max(1, len(questions))
    return Scores(reciprocal / count, found / count)


def engine_mode(engine: Engine, mode: str) -> Callable[[str], list[SearchHit]]:
    """A query runner for one search mode, as a user calls it: a query that is not valid
    syntax is searched as a literal (what `api.search` does)."""

    def run(query: str) -> list[SearchHit]:
        try:
            return list(engine.search(query, mode=mode, limit=RANKS).hits)
        except QuerySyntaxError:
            try:
                return list(engine.search(query, mode=mode, limit=RANKS, literal=True).hits)
            except QuerySyntaxError:
                return []

    return run


def lexical_mode(engine: Engine) -> Callable[[str], list[SearchHit]]:
    """The lexical side alone (BM25 with OR over sub-tokens), which has no mode of its own."""
    project = engine.registry.list()[0]
    return lambda query: searcher.lexical_hits(project, query, RANKS)


def hybrid_with_weight(engine: Engine, weight: float) -> Callable[[str], list[SearchHit]]:
    """Hybrid with another lexical weight (for tuning it)."""
    project = engine.registry.list()[0]
    return lambda query: searcher.hybrid_hits(project, query, RANKS, False, weight)


def all_modes(engine: Engine) -> dict[str, Callable[[str], list[SearchHit]]]:
    """The four rankings side by side: full-text, lexical, semantic, hybrid."""
    return {
        "full-text": engine_mode(engine, "fulltext"),
        "lexical (BM25, OR)": lexical_mode(engine),
        "semantic": engine_mode(engine, "semantic"),
        "hybrid": engine_mode(engine, "hybrid"),
    }
