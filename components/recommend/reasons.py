"""One short, human sentence per recommendation, from the source that brought the item in."""

from __future__ import annotations

from collections.abc import Sequence

from components.recommend.candidates import SOURCE_POPULAR

FOR_YOU = "picked for you"
POPULAR_NOW = "popular right now"


def because(anchor_id: int, anchor_title: str) -> str:
    return f"because you watched {anchor_title or f'item {anchor_id}'}"


def popular_in(category: str) -> str:
    return f"popular in {category}" if category else POPULAR_NOW


def reason(
    source: str,
    anchor_id: int,
    anchor_title: str,
    item_categories: Sequence[str],
    requested: Sequence[str] = (),
) -> str:
    """``because you watched <title>`` when a history item brought the item in (ANN neighbour
    or co-visitation), ``popular in <category>`` for the popularity source (the requested
    category it matched, else its primary one), ``picked for you`` otherwise."""
    if source != SOURCE_POPULAR and anchor_id >= 0:
        return because(anchor_id, anchor_title)
    if source == SOURCE_POPULAR:
        matched = [c for c in requested if c in item_categories]
        category = matched[0] if matched else (item_categories[0] if item_categories else "")
        return popular_in(category)
    return FOR_YOU
