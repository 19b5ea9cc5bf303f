"""Sub-tokens: identifiers split the way a developer would say them."""

from __future__ import annotations

from engine.index.subtokens import MAX_SUBTOKEN_CHARS, split_identifier, subtoken_text, subtokens


def test_camel_case_is_split_and_lower_cased():
    assert split_identifier("parseHTTPResponse") == ["parse", "http", "response"]


def test_snake_case_is_split_and_not_kept_whole():
    assert split_identifier("open_http_connection") == ["open", "http", "connection"]


def test_a_one_part_identifier_is_not_repeated():
    assert split_identifier("Popen") == ["popen"]
    assert subtokens("__init__") == ["init"]


def test_numbers_are_left_out_but_a_piece_mixing_letters_and_digits_is_kept():
    assert split_identifier("utf8Decode") == ["utf", "decode", "utf8decode"]
    assert split_identifier("ext4_fill_super") == ["ext", "ext4", "fill", "super"]
    assert split_identifier("GC_9_0") == ["gc"]
    assert subtokens("x = 0x1fUL + 1024") == ["x"]


def test_non_ascii_words_are_kept_as_one_part():
    assert subtokens("café_au_lait") == ["café", "au", "lait"]


def test_punctuation_separates_and_is_dropped():
    assert subtoken_text("os.path.join(a, b) -> str") == "os path join a b str"


def test_overlong_tokens_are_dropped():
    assert subtokens("x" * (MAX_SUBTOKEN_CHARS + 1)) == []


def test_empty_and_symbol_only_text_give_nothing():
    assert subtokens("") == []
    assert subtokens("->  :: ()") == []


def test_subtoken_text_of_repeated_and_overlong_words_matches_subtokens():
    text = f"parseHTTP(x) {'y' * (MAX_SUBTOKEN_CHARS + 1)} parseHTTP snake_case_name parseHTTP"
    assert subtoken_text(text) == " ".join(subtokens(text))
    assert subtoken_text(text) == ("parse http x parse http snake case name parse http")


def test_ascii_text_and_the_same_text_with_one_non_ascii_word_split_alike():
    code = "def parseHTTPResponse(raw_bytes, utf8=True):\n    return __x__ + ext4_inode_0x1f\n"
    # The ASCII-only pattern serves the first; the general one the second.
    assert subtoken_text(code) == " ".join(subtokens(code))
    assert subtoken_text(code + "# naïve\n") == subtoken_text(code) + " naïve"
