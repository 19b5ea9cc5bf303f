"""The breakdown while indexing workers run: counted in the total, named in the tree."""

from __future__ import annotations

from engine.memory.breakdown import build_breakdown, build_tree
from engine.memory.engine_view import EngineTotals
from engine.memory.probe import MB, ProbeSample


def _sample(workers_mb: float) -> ProbeSample:
    own = 300 * MB
    return ProbeSample(
        rss=own + int(workers_mb * MB),
        anon=200 * MB,
        file=100 * MB,
        stack=1 * MB,
        code=20 * MB,
        heap=200 * MB,
        workers=int(workers_mb * MB),
    )


def _children(node):
    return {child.key: child for child in node.children}


def test_workers_are_in_the_total_and_their_own_node() -> None:
    breakdown = build_breakdown(_sample(160), EngineTotals(), 30 * MB, clock=lambda: 0.0)
    assert breakdown.total_mb == 460 and breakdown.process_rss_mb == 300
    assert breakdown.workers_mb == 160

    tree = build_tree(breakdown)
    other_rss = _children(tree)["other_rss"]
    parts = _children(other_rss)
    assert parts["other_rss.workers"].mb == 160
    assert parts["other_rss.workers"].source == "measured"
    assert round(sum(child.mb for child in other_rss.children), 1) == other_rss.mb
    assert round(sum(child.mb for child in tree.children), 1) == tree.mb


def test_without_workers_the_tree_keeps_its_usual_shape() -> None:
    tree = build_tree(build_breakdown(_sample(0), EngineTotals(), 30 * MB, clock=lambda: 0.0))
    assert list(_children(_children(tree)["other_rss"])) == [
        "other_rss.tantivy",
        "other_rss.other",
    ]
