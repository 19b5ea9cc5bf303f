"""Regex mode narrows candidate files by a word every match must contain as a whole token."""

from __future__ import annotations

import pytest

from engine.api.search_options import required_token


@pytest.mark.parametrize(
    ("pattern", "token"),
    [
        (r"\bdef\s+load_config\b", "config"),  # tantivy splits at "_": both halves are tokens
        (r"\bself\.entries\b", "entries"),
        (r"^ZANZIBARQUUX = \d+", "ZANZIBARQUUX"),
        (r"(x)?\bparse\b", "parse"),
    ],
)
def test_a_word_bounded_on_both_sides_narrows_the_candidates(pattern: str, token: str) -> None:
    assert required_token(pattern) == token


@pytest.mark.parametrize(
    "pattern",
    [
        "def load",  # "load" may continue ("loader"): not a whole token
        "foo|bar",  # neither word is required
        r"a[bc]d",
        r"x\s*foo\b",  # the space is optional: "foo" may follow "x" directly
        r"(parse)\b",  # inside a group: may be quantified or alternated
    ],
)
def test_no_word_is_required_so_every_file_is_a_candidate(pattern: str) -> None:
    assert required_token(pattern) is None
