"""Tiny hand-made frames in the data contract's shape (no dependency on components.data)."""

from __future__ import annotations

import numpy as np
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

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def interactions_frame(rows: list[tuple[int, int, int]], event: str = "view") -> pd.DataFrame:
    """(user, item, seconds after T0) rows -> an interactions frame."""
    users, items, seconds = zip(*rows, strict=True) if rows else ((), (), ())
    return pd.DataFrame(
        {
            USER_ID: np.asarray(users, dtype=np.int64),
            ITEM_ID: np.asarray(items, dtype=np.int64),
            EVENT_TYPE: event,
            TIMESTAMP: T0 + pd.to_timedelta(np.asarray(seconds, dtype=np.int64), unit="s"),
        }
    )


def items_frame(categories: dict[int, str]) -> pd.DataFrame:
    """item id -> pipe-joined categories -> an items frame."""
    ids = np.asarray(sorted(categories), dtype=np.int64)
    return pd.DataFrame(
        {
            ITEM_ID: ids,
            TITLE: [f"item {i}" for i in ids],
            CATEGORIES: [categories[i] for i in ids],
            AVAILABLE: True,
            CREATED_AT: T0,
        }
    )


def two_group_data(
    users_per_group: int = 30, items_per_group: int = 15, per_user: int = 8, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, list[int], list[int], list[int], list[int]]:
    """Group A users touch only A items, group B only B items; every item has the same
    category, so only co-occurrence tells the groups apart.

    Returns (interactions, items, users A, users B, items A, items B).
    """
    rng = np.random.default_rng(seed)
    users_a = list(range(1, users_per_group + 1))
    users_b = list(range(1001, 1001 + users_per_group))
    items_a = list(range(100, 100 + items_per_group))
    items_b = list(range(500, 500 + items_per_group))
    rows = []
    for users, items in ((users_a, items_a), (users_b, items_b)):
        for user in users:
            chosen = rng.choice(items, size=per_user, replace=False)
            times = np.sort(rng.integers(0, 100_000, size=per_user))
            rows += [(user, int(i), int(t)) for i, t in zip(chosen, times, strict=True)]
    catalog = {i: "Thing" for i in items_a + items_b}
    return interactions_frame(rows), items_frame(catalog), users_a, users_b, items_a, items_b


@pytest.fixture
def two_groups() -> tuple:
    return two_group_data()


@pytest.fixture
def make_interactions():
    return interactions_frame


@pytest.fixture
def make_items():
    return items_frame
