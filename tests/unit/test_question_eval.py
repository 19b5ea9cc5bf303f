"""The question eval's corpus: docstrings out, first sentences as queries, spans right."""

from __future__ import annotations

import textwrap

from engine.index.results import SearchHit
from tests.integration.question_eval import (
    Question,
    build_question_corpus,
    first_sentence,
    score,
    strip_docstrings,
)

SOURCE = textwrap.dedent(
    '''\
    """Module docstring."""


    class Reader:
        """Reads things."""

        def read_all(self, stream):
            """Read every record from the stream. More text.

            Details.
            """
            return list(stream)


    def only_doc():
        """Do nothing at all, on purpose."""


    def short():
        """Too short."""
        return 1
    '''
)


def test_docstrings_are_removed_and_a_body_left_empty_gets_pass():
    text, queries = strip_docstrings(SOURCE)
    assert '"""' not in text
    assert "    pass" in text
    compile(text, "stripped.py", "exec")
    assert queries == [
        ("Reader.read_all", "Read every record from the stream."),
        ("only_doc", "Do nothing at all, on purpose."),
    ]


def test_first_sentence_joins_wrapped_lines():
    assert (
        first_sentence("Split the\n    text into words. Then more.") == "Split the text into words."
    )


def test_questions_point_at_the_function_in_the_written_file(tmp_path):
    questions = build_question_corpus({"pkg/reader.py": SOURCE}, tmp_path)
    lines = (tmp_path / "pkg" / "reader.py").read_text().split("\n")
    first = questions[0]
    assert lines[first.start - 1].strip().startswith("def read_all")
    assert "return list(stream)" in lines[first.end - 1]


def test_score_counts_the_rank_of_the_first_hit_inside_the_function():
    question = Question("q", "a.py", 10, 20)
    miss = SearchHit("p", "a.py", 5, "", 1.0)
    hit = SearchHit("p", "a.py", 12, "", 0.5)
    result = score([question, Question("r", "b.py", 1, 2)], lambda q: [miss, hit])
    assert result.mrr == 0.25 and result.recall == 0.5
