"""Filter expressions: quoting, category filters, joining."""

from __future__ import annotations

import pytest

from components.retrieval.filters import (
    AVAILABLE_FILTER,
    and_filters,
    category_filter,
    quote_string,
)


def test_quote_string_escapes_quote_backslash_and_whitespace_controls():
    assert quote_string("Comedy") == '"Comedy"'
    assert quote_string('Sci "Fi" \\ x') == '"Sci \\"Fi\\" \\\\ x"'
    assert quote_string("a\nb\tc") == '"a\\nb\\tc"'
    assert quote_string("Comédie") == '"Comédie"'


def test_quote_string_refuses_other_control_characters():
    with pytest.raises(ValueError, match="control character"):
        quote_string("a\x00b")


def test_category_filter_matches_any_category_or_primary_only():
    assert category_filter(["Comedy", "Drama"]) == (
        'array_contains_any(categories, ["Comedy", "Drama"])'
    )
    assert category_filter(["Comedy"], primary_only=True) == 'category in ["Comedy"]'


def test_category_filter_cannot_be_broken_out_of():
    hostile = 'x"] or true or ["'
    expr = category_filter([hostile])
    assert expr == 'array_contains_any(categories, ["x\\"] or true or [\\""])'


def test_category_filter_needs_a_category():
    with pytest.raises(ValueError, match="at least one"):
        category_filter([])


def test_and_filters_parenthesises_and_skips_empty():
    assert and_filters(AVAILABLE_FILTER, None, "") == "(available == true)"
    assert and_filters("a == 1", "b or c") == "(a == 1) and (b or c)"
    assert and_filters(None, "") is None
