"""From a query to the lines shown for a matching file."""

from __future__ import annotations

from engine.index.line_match import matching_lines, pattern_for_literal, pattern_for_query

TEXT = "import os\ndef get_engine():\n    return GetEngine()\n# get engine later\nengine = 1\n"


def lines_for(query: str) -> list[int]:
    return [line for line, _ in matching_lines(TEXT, pattern_for_query(query))]


def test_identifier_matches_as_tantivy_tokenises_it():
    assert lines_for("get_engine") == [2, 4]


def test_phrase_prefix_and_boolean_clauses():
    assert lines_for('"get engine"') == [2, 4]
    assert lines_for("get*") == [2, 3, 4]
    assert lines_for("os OR engine") == [1, 2, 4, 5]


def test_negated_and_path_terms_are_not_highlighted():
    assert lines_for("engine -get") == [2, 4, 5]
    assert lines_for("path:foo AND os") == [1]
    assert lines_for("engine NOT os") == [2, 4, 5]


def test_query_without_content_words_shows_the_first_line():
    assert list(matching_lines(TEXT, pattern_for_query("path:engine"))) == [(1, "import os")]


def test_literal_is_a_case_insensitive_substring():
    found = list(matching_lines(TEXT, pattern_for_literal("getengine(")))
    assert found == [(3, "    return GetEngine()")]


def test_each_line_is_reported_once_and_numbered_from_one():
    text = "a a a\nb\na\n"
    assert list(matching_lines(text, pattern_for_literal("a"))) == [(1, "a a a"), (3, "a")]


def test_text_whose_length_changes_when_lowercased_still_lines_up():
    text = "İstanbul = 1\nvalue = GetEngine()\n"  # "İ".lower() is two characters
    assert len(text.lower()) != len(text)
    found = list(matching_lines(text, pattern_for_literal("getengine")))
    assert found == [(2, "value = GetEngine()")]
    assert [line for line, _ in matching_lines(text, pattern_for_query("istanbul"))] == [1]
