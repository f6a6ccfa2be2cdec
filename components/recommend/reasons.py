"""One short, human sentence per recommendation, from the source that brought the item in and,
when the ranker ordered the answer, the action it expects (``ranker.actions``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from components.data.item_ids import is_hashed
from components.recommend.candidates import NO_ANCHOR, SOURCE_POPULAR

FOR_YOU = "picked for you"
AN_EARLIER_ITEM = "an item you viewed before"
POPULAR_NOW = "popular right now"

# The verb of an event type in "likely to <verb>"; another type reads as its name.
VERBS = {
    "view": "watch",
    "click": "click",
    "add_to_cart": "add to cart",
    "purchase": "purchase",
    "rating": "rate",
}
# Value bands with a plainer phrase than "<verb> <t> or more".
BANDS = {"rating_ge4": "likely to rate highly", "rating_ge3": "likely to rate well"}
_BAND = re.compile(r"(?P<type>.+)_(?P<kind>ge|lt)(?P<t>[0-9.e+-]+)")
LEGACY_ACTION = "relevance"  # a ranker saved before heads: no action to name


def because(anchor_id: int | str, anchor_title: str) -> str:
    """The anchor by its title, else by the id clients know it by (a string id, an integer);
    never by an internal hash (a string id the catalog no longer names)."""
    if anchor_title:
        return f"because you watched {anchor_title}"
    if isinstance(anchor_id, int) and is_hashed(anchor_id):
        return f"because you watched {AN_EARLIER_ITEM}"
    return f"because you watched item {anchor_id}"


def popular_in(category: str) -> str:
    return f"popular in {category}" if category else POPULAR_NOW


def likely(action: str) -> str:
    """``likely to purchase`` for a ranker action (``ranker.actions`` names); ``""`` for none,
    the legacy head and a negative band (``view_lt5``: never a reason to show an item)."""
    if not action or action == LEGACY_ACTION:
        return ""
    if action in BANDS:
        return BANDS[action]
    band = _BAND.fullmatch(action)
    if band is None:
        return f"likely to {VERBS.get(action, action.replace('_', ' '))}"
    if band["kind"] == "lt":
        return ""
    verb = VERBS.get(band["type"], band["type"].replace("_", " "))
    return f"likely to {verb} {band['t']} or more"


def reason(
    source: str,
    anchor_id: int | str,
    anchor_title: str,
    item_categories: Sequence[str],
    requested: Sequence[str] = (),
    action: str = "",
) -> str:
    """``because you watched <title>`` when a history item brought the item in (ANN neighbour
    or co-visitation), ``popular in <category>`` for the popularity source (the requested
    category it matched, else its primary one), ``picked for you`` otherwise; then what the
    ranker expects when it ordered the answer (``action``, its dominant action for the item):
    ``because you watched <title>, likely to purchase``, or just ``likely to purchase``.
    ``anchor_id`` is the history item as clients name it: the catalog's string id, if any."""
    expected = likely(action)
    if source != SOURCE_POPULAR and anchor_id != NO_ANCHOR:
        found = because(anchor_id, anchor_title)
    elif source == SOURCE_POPULAR:
        matched = [c for c in requested if c in item_categories]
        category = matched[0] if matched else (item_categories[0] if item_categories else "")
        found = popular_in(category)
    else:
        return expected or FOR_YOU
    return f"{found}, {expected}" if expected else found
