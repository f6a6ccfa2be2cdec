"""Every feature, declared once: name, entity, type, default, where it is computed, what it is for.

The Feast schema (``definitions``), the online defaults (``store``), the ranker's columns
(``ranking``), the drift job's user features (``monitoring.config``) and ``docs/features.md`` are
all derived from the declarations below. Adding a ranker feature is one declaration here plus its
computation (``build`` for a stored feature, ``ranking`` for one derived at matrix time).

Declaration order is the order of the Feast views' columns and of the ranker's matrix; append a
new feature at the end of its block. Kept free of any Feast import (importing Feast takes
seconds) so the pure-pandas builder and ranker matrix can use the names without paying for it.

``python -m components.features.columns --write docs/features.md`` regenerates the doc's table.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

EVENT_TIMESTAMP = "event_timestamp"  # Feast's point-in-time column in sources and entity frames

USER_ENTITY = "user"
ITEM_ENTITY = "item"
PAIR_ENTITY = "user-item"  # a candidate pair: no store row, computed for the pair
USER_VIEW = "user_stats"
ITEM_VIEW = "item_stats"
RANKER_SERVICE = "ranker_v1"

RECENT_ITEMS_N = 20  # length of user_recent_items
TOP_CATEGORIES_N = 3  # categories kept in user_top_categories
SHARE_SEPARATOR = ":"  # "Action:0.4000|Comedy:0.2000" (pairs joined by CATEGORY_SEPARATOR)


class Dtype(StrEnum):
    """Value types; ``definitions`` maps each to its Feast type."""

    INT64 = "int64"
    FLOAT64 = "float64"
    STRING = "string"
    INT64_LIST = "int64[]"


class Source(StrEnum):
    """Where a feature's values are computed."""

    SNAPSHOT = "snapshot"  # components.features.build, stored in a Feast view
    RANKING = "ranking"  # components.features.ranking, from stored features, per candidate
    RETRIEVAL = "retrieval"  # comes with the candidate from retrieval


class Ranker(StrEnum):
    """What the ranker does with a feature."""

    COLUMN = "column"  # a column of the ranker's matrix (a float)
    INPUT = "input"  # read to derive columns; in the feature service, not a column itself
    NONE = "none"  # stored for serving's rules only (not in the feature service)


_PYTHON_TYPE = {Dtype.INT64: int, Dtype.FLOAT64: float, Dtype.STRING: str, Dtype.INT64_LIST: tuple}


@dataclass(frozen=True)
class Feature:
    """One feature. ``default``: its value for an id the store does not know ("no history")."""

    name: str
    entity: str
    dtype: Dtype
    default: Any
    doc: str
    source: Source = Source.SNAPSHOT
    ranker: Ranker = Ranker.COLUMN
    drift: bool = False  # compared by the drift job (user features only: one row per user)

    def __post_init__(self) -> None:
        if type(self.default) is not _PYTHON_TYPE[self.dtype]:
            raise TypeError(f"{self.name}: default {self.default!r} is not {self.dtype}")
        if self.ranker is Ranker.COLUMN and self.dtype not in (Dtype.INT64, Dtype.FLOAT64):
            raise TypeError(f"{self.name}: a ranker column must be numeric")
        if self.source is not Source.SNAPSHOT and self.ranker is not Ranker.COLUMN:
            raise ValueError(f"{self.name}: only stored features can be other than a column")
        if self.drift and (self.entity != USER_ENTITY or self.source is not Source.SNAPSHOT):
            raise ValueError(f"{self.name}: the drift job compares stored user features only")

    @property
    def online_default(self) -> Any:
        """The default as the store hands it out (a list type as a fresh list)."""
        return list(self.default) if self.dtype is Dtype.INT64_LIST else self.default


_declared: list[Feature] = []


def _declare(feature: Feature) -> str:
    if any(f.name == feature.name for f in _declared):
        raise ValueError(f"feature {feature.name!r} declared twice")
    _declared.append(feature)
    return feature.name


def _user(name: str, dtype: Dtype, default: Any, doc: str, **kw: Any) -> str:
    return _declare(Feature(name, USER_ENTITY, dtype, default, doc, **kw))


def _item(name: str, dtype: Dtype, default: Any, doc: str, **kw: Any) -> str:
    return _declare(Feature(name, ITEM_ENTITY, dtype, default, doc, **kw))


def _derived(name: str, entity: str, source: Source, doc: str) -> str:
    """A ranker column computed per candidate (not stored): a float, 0 when unknown."""
    return _declare(Feature(name, entity, Dtype.FLOAT64, 0.0, doc, source=source))


# From retrieval, with each candidate.
RETRIEVAL_SCORE = _derived(
    "retrieval_score",
    PAIR_ENTITY,
    Source.RETRIEVAL,
    "Two-tower dot product (0 without a user vector).",
)
RETRIEVAL_RANK = _derived(
    "retrieval_rank", PAIR_ENTITY, Source.RETRIEVAL, "0 = retrieval's best candidate for the user."
)
COVISIT_SCORE = _derived(
    "covisit_score",
    PAIR_ENTITY,
    Source.RETRIEVAL,
    f"Co-visitation of the candidate with the user's {RECENT_ITEMS_N} most recent positives: "
    "sum of the serving tables' pair scores / (1 + position) (`features.covisitation`).",
)

# Item features (one row per item per snapshot).
ITEM_EVENTS_7D = _item(
    "item_events_7d", Dtype.INT64, 0, "Positive events on the item, last 7 days."
)
ITEM_EVENTS_30D = _item(
    "item_events_30d", Dtype.INT64, 0, "Positive events on the item, last 30 days."
)
ITEM_EVENTS_365D = _item(
    "item_events_365d", Dtype.INT64, 0, "Positive events on the item, last 365 days."
)
ITEM_EVENTS_ALL = _item("item_events_all", Dtype.INT64, 0, "Positive events on the item ever.")
ITEM_USERS_30D = _item(
    "item_users_30d", Dtype.INT64, 0, "Distinct users with a positive, last 30 days."
)
ITEM_TREND = _item(
    "item_trend", Dtype.FLOAT64, 0.0, "log((positives last 30d + 1) / (the 30d before + 1))."
)
ITEM_AGE_DAYS = _item("item_age_days", Dtype.FLOAT64, 0.0, "Days since creation (or first event).")
ITEM_AVAILABLE = _item(
    "item_available", Dtype.INT64, 1, "1 = can be recommended (Int64: round-trips)."
)
ITEM_CATEGORIES = _item(
    "item_categories", Dtype.STRING, "", "Pipe-joined, as in the catalog.", ranker=Ranker.INPUT
)
ITEM_N_CATEGORIES = _derived(
    "item_n_categories", ITEM_ENTITY, Source.RANKING, "Number of the item's categories."
)

# User features (one row per user per snapshot, from the user's first event on).
USER_EVENTS_7D = _user(
    "user_events_7d",
    Dtype.INT64,
    0,
    "The user's events (all types) in the last 7 days.",
    drift=True,
)
USER_EVENTS_30D = _user("user_events_30d", Dtype.INT64, 0, "The user's events in the last 30 days.")
USER_EVENTS_365D = _user(
    "user_events_365d", Dtype.INT64, 0, "The user's events in the last 365 days."
)
USER_EVENTS_ALL = _user("user_events_all", Dtype.INT64, 0, "The user's events ever (all types).")
USER_ITEMS_ALL = _user(
    "user_items_all", Dtype.INT64, 0, "Distinct items ever, any event type.", drift=True
)
USER_DAYS_SINCE_FIRST = _user(
    "user_days_since_first", Dtype.FLOAT64, 0.0, "Days since the first event."
)
USER_RECENT_ITEMS = _user(
    "user_recent_items",
    Dtype.INT64_LIST,
    (),
    f"Last {RECENT_ITEMS_N} distinct positive items, most recent first: the user tower's "
    "history (recent_positive_items).",
    ranker=Ranker.NONE,
)
USER_TOP_CATEGORIES = _user(
    "user_top_categories",
    Dtype.STRING,
    "",
    f"Top {TOP_CATEGORIES_N} categories by share, pipe-joined.",
    ranker=Ranker.INPUT,
)
USER_CATEGORY_SHARES = _user(
    "user_category_shares",
    Dtype.STRING,
    "",
    '"Action:0.4000|Comedy:0.2000": share of positive events per category, sums to 1.',
    ranker=Ranker.INPUT,
)
USER_DAYS_SINCE_LAST = _user(
    "user_days_since_last",
    Dtype.FLOAT64,
    0.0,
    "Days from the user's last event (any type) to the snapshot: recency.",
)

# For a candidate pair.
USER_CATEGORY_AFFINITY = _derived(
    "user_category_affinity",
    PAIR_ENTITY,
    Source.RANKING,
    "The user's share covered by the item's categories (at most 1).",
)
ITEM_IN_TOP_CATEGORY = _derived(
    "item_in_top_category",
    PAIR_ENTITY,
    Source.RANKING,
    "1 if the item has the user's top category.",
)

FEATURES: tuple[Feature, ...] = tuple(_declared)


def stored(entity: str) -> tuple[Feature, ...]:
    """The Feast view's features of an entity, in column order."""
    return tuple(f for f in FEATURES if f.entity == entity and f.source is Source.SNAPSHOT)


USER_FEATURES: tuple[str, ...] = tuple(f.name for f in stored(USER_ENTITY))
ITEM_FEATURES: tuple[str, ...] = tuple(f.name for f in stored(ITEM_ENTITY))
# Values for an id the store does not know (a new user or item): "no history".
USER_DEFAULTS: dict[str, Any] = {f.name: f.online_default for f in stored(USER_ENTITY)}
ITEM_DEFAULTS: dict[str, Any] = {f.name: f.online_default for f in stored(ITEM_ENTITY)}
# The drift job's user features (see monitoring.config).
DRIFT_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.drift)


def markdown_table() -> str:
    """The feature list of ``docs/features.md``, one row per declaration."""
    lines = [
        "| feature | entity | type | default | computed in | ranker | drift | meaning |",
        "|---|---|---|---|---|---|---|---|",
    ]
    where = {
        Source.SNAPSHOT: "`build` (Feast view)",
        Source.RANKING: "`ranking`",
        Source.RETRIEVAL: "retrieval",
    }
    for f in FEATURES:
        default = repr(f.online_default).replace("'", '"')
        cells = (
            f"`{f.name}`",
            f.entity,
            f.dtype.value,
            f"`{default}`",
            where[f.source],
            f.ranker.value,
            "yes" if f.drift else "",
            f.doc.replace("|", "\\|"),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


BEGIN_TABLE = "<!-- generated: python -m components.features.columns --write docs/features.md -->"
END_TABLE = "<!-- end generated -->"


def with_table(doc: str) -> str:
    """``doc`` with the text between the two markers replaced by the current table."""
    head, begin, rest = doc.partition(BEGIN_TABLE)
    _, end, tail = rest.partition(END_TABLE)
    if not begin or not end:
        raise ValueError(f"the doc lacks the markers {BEGIN_TABLE!r} ... {END_TABLE!r}")
    return f"{head}{BEGIN_TABLE}\n{markdown_table()}{END_TABLE}{tail}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print or write the declared feature list.")
    parser.add_argument("--write", type=Path, help="refresh the table inside this markdown file")
    args = parser.parse_args(argv)
    if args.write is None:
        print(markdown_table(), end="")
    else:
        args.write.write_text(with_table(args.write.read_text()))


if __name__ == "__main__":
    main()
