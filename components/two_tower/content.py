"""An item's content tokens for the item tower: hashed title words and a release-decade bucket.

The category bag alone places a new item only among all items of its genres; the title's words
("Star", "Trek", "II") and the decade ("(1982)" in a MovieLens title) separate items the
categories cannot, and they exist for an item nobody has engaged with yet. Tokens hash into a
fixed number of embedding rows (``content_rows``; a stable CRC-32, not Python's salted
``hash``), so a word first seen at serving time still has a row and no vocabulary grows.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

CONTENT_BUCKETS = 8192  # hashed rows for content tokens (row 0 = none)
_WORD = re.compile(r"[0-9a-z]+")
_YEAR = re.compile(r"\((\d{4})\)\s*$")  # "Heat (1995)": the release year at the title's end
_STOP = frozenset({"a", "an", "and", "of", "the", "in", "to", "on", "la", "le", "de"})
WORD_PREFIX = "w:"
DECADE_PREFIX = "decade:"


def title_tokens(title: object) -> list[str]:
    """Distinct content tokens of a title, in order: its words (lower case, without stop words
    and the year) as ``w:word``, then the release decade as ``decade:1990`` when the title ends
    with a year in parentheses. Not a string (a missing title): no tokens."""
    if not isinstance(title, str):
        return []
    text = title.strip().lower()
    year = _YEAR.search(text)
    if year is not None:
        text = text[: year.start()]
    tokens = [WORD_PREFIX + w for w in _WORD.findall(text) if w not in _STOP]
    if year is not None:
        tokens.append(f"{DECADE_PREFIX}{int(year.group(1)) // 10 * 10}")
    return list(dict.fromkeys(tokens))


def content_rows(tokens: Sequence[str], buckets: int) -> np.ndarray:
    """Embedding rows of tokens: 1 + CRC-32(token) mod ``buckets`` (row 0 is never used, so a
    bag of no tokens pools to zeros)."""
    return np.fromiter(
        (1 + zlib.crc32(t.encode("utf-8")) % buckets for t in tokens), np.int64, len(tokens)
    )
