"""The fixed per-user temporal split of the evaluation protocol (docs/evaluation.md).

Numbers compare across sessions only under this exact split, so it lives in one place.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.data.columns import ITEM_ID, TIMESTAMP
from components.data.contract import time_key
from components.data.order import user_order

# 0.8 * n is not always exact in floating point; never let rounding move the cut by one.
_EPS = 1e-9


def split_mask(
    interactions: pd.DataFrame, test_fraction: float = 0.2, min_interactions: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Protocol order and test flags: ``(order, is_test)`` where ``order`` sorts the frame.

    Per user, rows are sorted stably by (timestamp, item_id) (ties keep input order); the rows
    from position floor((1 - test_fraction) * n) on are test; users with fewer than
    ``min_interactions`` rows stay fully in train. Users come in ``order.user_order`` (by their
    events, not their ids), so the split's files list them in the same order under any id key.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    users, _ = user_order(interactions)
    # np.lexsort is stable: the last key is primary.
    order = np.lexsort(
        (
            interactions[ITEM_ID].to_numpy(),
            time_key(interactions[TIMESTAMP]),
            users,
        )
    )
    sorted_users = pd.Series(users[order])
    position = sorted_users.groupby(sorted_users, sort=False).cumcount().to_numpy()
    n = sorted_users.map(sorted_users.value_counts()).to_numpy()
    cut = np.floor((1.0 - test_fraction) * n + _EPS)
    is_test = (n >= min_interactions) & (position >= cut)
    return order, is_test


def temporal_split(
    interactions: pd.DataFrame, test_fraction: float = 0.2, min_interactions: int = 5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into (train, test) per the protocol; both sorted by (user in ``user_order``,
    timestamp, item_id).

    Both frames get a fresh RangeIndex; columns and dtypes are those of the input.
    """
    order, is_test = split_mask(interactions, test_fraction, min_interactions)
    ordered = interactions.iloc[order]
    train = ordered[~is_test].reset_index(drop=True)
    test = ordered[is_test].reset_index(drop=True)
    return train, test
