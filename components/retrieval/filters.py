"""Milvus filter expressions for item searches, built from quoted values so that user input
(a category name) cannot change the expression.

Milvus Lite evaluates a filter once per call in Python: ``array_contains_any`` on ``categories``
cost ~130-150 ms per call at 10k items (``category in [...]``, ``available == true`` ~6 ms, the
same as no filter); scalar INVERTED indexes did not help and ARRAY fields cannot have one.
"""

from __future__ import annotations

from collections.abc import Iterable

from components.data.columns import AVAILABLE, CATEGORIES
from components.retrieval.schema import PRIMARY_CATEGORY

AVAILABLE_FILTER = f"{AVAILABLE} == true"


def quote_string(value: str) -> str:
    """A Milvus filter string literal: double quotes, with backslash, quote, \\n, \\r, \\t escaped.
    Other control characters have no escape in the filter grammar and are refused."""
    if any(ord(ch) < 32 and ch not in "\n\r\t" or ord(ch) == 127 for ch in value):
        raise ValueError(f"control character in filter value {value!r}")
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def category_filter(categories: Iterable[str], primary_only: bool = False) -> str:
    """Items carrying any of ``categories`` (or, with ``primary_only``, whose first category is
    one of them). Values are quoted, so user input cannot change the expression."""
    values = [str(c) for c in categories]
    if not values:
        raise ValueError("category_filter needs at least one category")
    listed = "[" + ", ".join(quote_string(v) for v in values) + "]"
    if primary_only:
        return f"{PRIMARY_CATEGORY} in {listed}"
    return f"array_contains_any({CATEGORIES}, {listed})"


def and_filters(*expressions: str | None) -> str | None:
    """Join filter expressions with ``and`` (None and "" are skipped); None when nothing is left."""
    parts = [f"({e})" for e in expressions if e]
    return " and ".join(parts) if parts else None
