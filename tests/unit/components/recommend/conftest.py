"""A tiny shop for the request-path tests: 12 items in 3 categories, 3 users."""

from __future__ import annotations

import pandas as pd
import pytest

from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    CREATED_AT,
    EVENT_TYPE,
    ITEM_ID,
    TIMESTAMP,
    TITLE,
    USER_ID,
)


@pytest.fixture
def items() -> pd.DataFrame:
    ids = list(range(1, 13))
    cats = ["A", "A|B", "A", "B", "B", "B|C", "C", "C", "C", "A", "B", "C"]
    return pd.DataFrame(
        {
            ITEM_ID: ids,
            TITLE: [f"Item {i}" for i in ids],
            CATEGORIES: cats,
            AVAILABLE: [i != 12 for i in ids],  # 12 is out of stock
            CREATED_AT: pd.Timestamp("2024-01-01", tz="UTC"),
        }
    )


@pytest.fixture
def interactions() -> pd.DataFrame:
    day = pd.Timestamp("2024-03-01", tz="UTC")
    rows = [
        # user 1: 1 -> 2 -> 3 recently; user 2: 1 -> 2 -> 4; user 3: old events on 7, 8
        (1, 1, "view", day),
        (1, 2, "click", day + pd.Timedelta(hours=1)),
        (1, 3, "view", day + pd.Timedelta(hours=2)),
        (2, 1, "view", day),
        (2, 2, "view", day + pd.Timedelta(hours=1)),
        (2, 4, "purchase", day + pd.Timedelta(hours=2)),
        (2, 5, "impression_skip", day + pd.Timedelta(hours=3)),
        (3, 7, "view", day - pd.Timedelta(days=60)),
        (3, 8, "view", day - pd.Timedelta(days=60) + pd.Timedelta(hours=1)),
    ]
    return pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP])
