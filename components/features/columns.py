"""Feature names, their defaults and the Feast names that go with them.

Kept free of any Feast import (importing Feast takes seconds) so the pure-pandas builder and the
ranker matrix can share the names with the Feast definitions without paying for it.
"""

from __future__ import annotations

from typing import Any

EVENT_TIMESTAMP = "event_timestamp"  # Feast's point-in-time column in sources and entity frames

USER_ENTITY = "user"
ITEM_ENTITY = "item"
USER_VIEW = "user_stats"
ITEM_VIEW = "item_stats"
RANKER_SERVICE = "ranker_v1"

RECENT_ITEMS_N = 20  # length of user_recent_items
TOP_CATEGORIES_N = 3  # categories kept in user_top_categories
SHARE_SEPARATOR = ":"  # "Action:0.4000|Comedy:0.2000" (pairs joined by CATEGORY_SEPARATOR)

# Item features (one row per item per snapshot).
ITEM_EVENTS_7D = "item_events_7d"
ITEM_EVENTS_30D = "item_events_30d"
ITEM_EVENTS_365D = "item_events_365d"
ITEM_EVENTS_ALL = "item_events_all"
ITEM_USERS_30D = "item_users_30d"  # distinct users in the last 30 days
ITEM_TREND = "item_trend"  # log((events last 30d + 1) / (events the 30d before + 1))
ITEM_AGE_DAYS = "item_age_days"
ITEM_AVAILABLE = "item_available"  # 1 / 0 (Int64 so every online store round-trips it)
ITEM_CATEGORIES = "item_categories"  # pipe-joined, as in the catalog

# User features (one row per user per snapshot, from the user's first event on).
USER_EVENTS_7D = "user_events_7d"
USER_EVENTS_30D = "user_events_30d"
USER_EVENTS_365D = "user_events_365d"
USER_EVENTS_ALL = "user_events_all"
USER_ITEMS_ALL = "user_items_all"  # distinct items ever interacted with
USER_DAYS_SINCE_FIRST = "user_days_since_first"
USER_RECENT_ITEMS = "user_recent_items"  # distinct item ids, most recent first
USER_TOP_CATEGORIES = "user_top_categories"  # pipe-joined, highest share first
USER_CATEGORY_SHARES = "user_category_shares"  # "Action:0.4000|Comedy:0.2000", sums to 1

ITEM_FEATURES: tuple[str, ...] = (
    ITEM_EVENTS_7D,
    ITEM_EVENTS_30D,
    ITEM_EVENTS_365D,
    ITEM_EVENTS_ALL,
    ITEM_USERS_30D,
    ITEM_TREND,
    ITEM_AGE_DAYS,
    ITEM_AVAILABLE,
    ITEM_CATEGORIES,
)
USER_FEATURES: tuple[str, ...] = (
    USER_EVENTS_7D,
    USER_EVENTS_30D,
    USER_EVENTS_365D,
    USER_EVENTS_ALL,
    USER_ITEMS_ALL,
    USER_DAYS_SINCE_FIRST,
    USER_RECENT_ITEMS,
    USER_TOP_CATEGORIES,
    USER_CATEGORY_SHARES,
)

# Values for an id the store does not know (a new user or item): "no history".
ITEM_DEFAULTS: dict[str, Any] = {
    ITEM_EVENTS_7D: 0,
    ITEM_EVENTS_30D: 0,
    ITEM_EVENTS_365D: 0,
    ITEM_EVENTS_ALL: 0,
    ITEM_USERS_30D: 0,
    ITEM_TREND: 0.0,
    ITEM_AGE_DAYS: 0.0,
    ITEM_AVAILABLE: 1,
    ITEM_CATEGORIES: "",
}
USER_DEFAULTS: dict[str, Any] = {
    USER_EVENTS_7D: 0,
    USER_EVENTS_30D: 0,
    USER_EVENTS_365D: 0,
    USER_EVENTS_ALL: 0,
    USER_ITEMS_ALL: 0,
    USER_DAYS_SINCE_FIRST: 0.0,
    USER_RECENT_ITEMS: [],
    USER_TOP_CATEGORIES: "",
    USER_CATEGORY_SHARES: "",
}
