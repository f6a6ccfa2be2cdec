"""Content tokens of a title and their hashed rows, by hand."""

from __future__ import annotations

import zlib

from components.two_tower.content import content_rows, title_tokens


def test_words_lower_case_without_stop_words_then_the_decade() -> None:
    assert title_tokens("American President, The (1995)") == [
        "w:american",
        "w:president",
        "decade:1990",
    ]
    assert title_tokens("Star Trek II: The Wrath of Khan (1982)") == [
        "w:star",
        "w:trek",
        "w:ii",
        "w:wrath",
        "w:khan",
        "decade:1980",
    ]


def test_no_year_no_decade_and_repeated_words_once() -> None:
    assert title_tokens("Tora! Tora! Tora!") == ["w:tora"]
    assert title_tokens("1984") == ["w:1984"]  # a year not in parentheses is a word


def test_a_missing_title_has_no_tokens() -> None:
    assert title_tokens(None) == []
    assert title_tokens(float("nan")) == []
    assert title_tokens("") == []


def test_rows_are_a_stable_hash_into_one_to_buckets() -> None:
    rows = content_rows(["w:star", "decade:1980"], 100)
    assert rows.tolist() == [
        1 + zlib.crc32(b"w:star") % 100,
        1 + zlib.crc32(b"decade:1980") % 100,
    ]
    assert all(1 <= r <= 100 for r in content_rows([f"w:{i}" for i in range(500)], 100))
    assert content_rows([], 100).shape == (0,)
