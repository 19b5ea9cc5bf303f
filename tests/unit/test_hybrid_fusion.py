"""Hybrid's fusion and the lexical documents it ranks: what adds up and what stands alone."""

from __future__ import annotations

from engine.index.chunker import MAX_CHUNK_LINES, chunk_lines
from engine.index.searcher import FusionCandidate, fuse
from engine.index.segments import definition_segments, file_pieces


def _order(fused):
    return [(candidate.path, candidate.start) for candidate, _score in fused]


def test_a_definition_inside_a_semantic_chunk_adds_the_chunks_score():
    lexical = [FusionCandidate("a.py", 10, 20, 8.0), FusionCandidate("b.py", 1, 9, 9.0)]
    semantic = [FusionCandidate("a.py", 1, 40, 0.5), FusionCandidate("c.py", 1, 30, 0.4)]
    fused = fuse(lexical, semantic, 0.5)
    assert _order(fused)[0] == ("a.py", 10)
    # The chunk gave its score to the definition; it is not listed a second time.
    assert ("a.py", 1) not in _order(fused)


def test_the_weight_decides_between_disagreeing_sides():
    lexical = [FusionCandidate("lex.py", 1, 5, 9.0), FusionCandidate("x.py", 1, 5, 1.0)]
    semantic = [FusionCandidate("sem.py", 1, 30, 0.9), FusionCandidate("y.py", 1, 30, 0.1)]
    assert _order(fuse(lexical, semantic, 0.8))[0] == ("lex.py", 1)
    assert _order(fuse(lexical, semantic, 0.2))[0] == ("sem.py", 1)


def test_weight_one_keeps_the_lexical_order():
    lexical = [FusionCandidate(f"{n}.py", 1, 5, 10.0 - n) for n in range(5)]
    semantic = [FusionCandidate("4.py", 1, 30, 0.9), FusionCandidate("z.py", 1, 30, 0.8)]
    assert _order(fuse(lexical, semantic, 1.0))[:5] == [(f"{n}.py", 1) for n in range(5)]


def test_one_side_empty_gives_the_other_sides_order():
    semantic = [FusionCandidate("a.py", 1, 30, 0.7), FusionCandidate("b.py", 1, 30, 0.3)]
    assert _order(fuse([], semantic, 0.8)) == [("a.py", 1), ("b.py", 1)]
    assert fuse([], [], 0.8) == []


def test_segments_start_at_each_definition():
    lines = ["import os", "", "def a():", "    pass", "", "def b():", "    return 1"]
    segments = definition_segments(lines, [3, 6])
    assert [(s.start, s.end) for s in segments] == [(1, 2), (3, 5), (6, 7)]
    assert segments[2].text == "def b():\n    return 1"


def test_a_long_stretch_is_cut_into_windows_and_blank_pieces_are_dropped():
    lines = ["x = 1"] * (MAX_CHUNK_LINES + 5) + ["", ""]
    segments = definition_segments(lines, [MAX_CHUNK_LINES + 6, 99999])
    assert [(s.start, s.end) for s in segments] == [(1, MAX_CHUNK_LINES), (51, 55)]


def test_definitions_on_consecutive_lines_share_one_lexical_document():
    from engine.index.segments import definition_segments

    lines = [
        "#define A 1",
        "#define B 2",
        "#define C 3",
        "",
        "int f(void)",
        "{",
        "}",
        "#define D 4",
    ]
    pieces = definition_segments(lines, [1, 2, 3, 5, 8])
    assert [(piece.start, piece.end) for piece in pieces] == [(1, 4), (5, 7), (8, 8)]


def test_a_file_is_pieced_at_its_definitions_or_else_in_line_windows():
    lines = ["import os", "", "def a():", "    pass", "", "def b():", "    return 1"]
    assert file_pieces(lines, [3, 6]) == definition_segments(lines, [3, 6])
    assert file_pieces(lines, []) == chunk_lines(lines)


def test_hybrid_uses_the_embedders_lexical_weight_or_the_default():
    from types import SimpleNamespace

    from engine.index.searcher import LEXICAL_WEIGHT, hybrid_lexical_weight

    plain = SimpleNamespace(embedder=object())
    tuned = SimpleNamespace(embedder=SimpleNamespace(hybrid_lexical_weight=0.4))
    assert hybrid_lexical_weight(plain) == LEXICAL_WEIGHT
    assert hybrid_lexical_weight(tuned) == 0.4
