"""The history training feeds the user tower and the one serving reads are the same sequence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    CREATED_AT,
    EVENT_TYPE,
    ITEM_ID,
    TIMESTAMP,
    TITLE,
    USER_ID,
    VALUE,
)
from components.features.build import build_feature_tables, default_snapshot_times
from components.features.columns import EVENT_TIMESTAMP, RECENT_ITEMS_N, USER_RECENT_ITEMS
from components.features.store import FOUND
from components.recommend.request import user_history
from components.recommend.sources import CandidateSources
from components.recommend.tables import build_serving_tables
from components.two_tower.history import (
    history_matrix,
    positive_interactions,
    recent_positive_items,
)

T0 = pd.Timestamp("2024-03-01", tz="UTC")
USER = 1
# (item, event type, value, minutes after T0): skips, a short view, a low rating, repeats,
# a funnel on one item and a tie in time.
ROWS = [
    (10, "view", 40.0, 0),
    (11, "impression_skip", np.nan, 1),
    (12, "view", 2.0, 2),  # a glance: negative
    (10, "click", np.nan, 3),  # a repeat of 10 keeps its first place
    (13, "rating", 1.5, 4),  # a low rating: negative
    (14, "rating", 4.5, 5),
    (15, "view", np.nan, 6),
    (16, "click", np.nan, 6),  # same time as 15: item id breaks the tie
    (11, "impression_skip", np.nan, 7),
    (17, "purchase", np.nan, 8),
    (12, "impression_skip", np.nan, 9),
    (15, "purchase", np.nan, 10),
    *[(20 + i, "click", np.nan, 11 + i) for i in range(RECENT_ITEMS_N)],  # more than fits
]


def events() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=[ITEM_ID, EVENT_TYPE, VALUE, "minutes"])
    other = pd.DataFrame({ITEM_ID: [10, 11], EVENT_TYPE: "click", VALUE: np.nan, "minutes": 3})
    frame = pd.concat([frame.assign(**{USER_ID: USER}), other.assign(**{USER_ID: 2})])
    frame[TIMESTAMP] = T0 + pd.to_timedelta(frame.pop("minutes"), unit="min")
    return frame[[USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP, VALUE]].reset_index(drop=True)


def catalog(item_ids: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            ITEM_ID: item_ids,
            TITLE: [f"item {i}" for i in item_ids],
            CATEGORIES: "Drama",
            AVAILABLE: True,
            CREATED_AT: T0 - pd.Timedelta(days=30),
        }
    )


class StoreHolding:
    """An online store holding the feature builder's latest user rows."""

    def __init__(self, user_rows: pd.DataFrame) -> None:
        latest = user_rows.sort_values(EVENT_TIMESTAMP).groupby(USER_ID).tail(1)
        self.rows = latest.set_index(USER_ID)

    def __call__(self, users, items):
        found = [u in self.rows.index for u in users]
        recent = [
            self.rows.at[u, USER_RECENT_ITEMS] if f else []
            for u, f in zip(users, found, strict=True)
        ]
        frame = pd.DataFrame({USER_RECENT_ITEMS: recent, FOUND: found}, index=list(users))
        return frame, pd.DataFrame(index=list(items))


def test_training_and_serving_histories_are_the_same_sequence() -> None:
    frame = events()
    items = catalog(np.unique(frame[ITEM_ID]))

    training = recent_positive_items(frame, RECENT_ITEMS_N)[USER]

    # The history a training example placed after all these events would get.
    nxt = pd.DataFrame(
        {
            USER_ID: [USER],
            ITEM_ID: [999],
            EVENT_TYPE: ["click"],
            TIMESTAMP: [T0 + pd.Timedelta(days=1)],
        }
    )
    positives = positive_interactions(pd.concat([frame, nxt], ignore_index=True))
    mine = positives[positives[USER_ID] == USER]
    matrix, lengths = history_matrix(
        mine[USER_ID].to_numpy(), mine[ITEM_ID].to_numpy(), RECENT_ITEMS_N
    )
    assert matrix[-1, : lengths[-1]].tolist() == training

    users, _ = build_feature_tables(frame, items, default_snapshot_times(frame))
    sources = CandidateSources.from_tables(build_serving_tables(frame, items))
    serving = user_history(USER, RECENT_ITEMS_N, sources, StoreHolding(users))

    assert serving.items.tolist() == training
    assert len(training) == RECENT_ITEMS_N
    assert not {11, 12, 13} & set(training)  # skips, a glance and a low rating never enter
    assert 11 in serving.seen  # a skipped item is still seen (not recommended again)
