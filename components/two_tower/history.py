"""Which events count as positives, in what order, and what a user's history is at each one.

One definition serves training, offline evaluation and serving, so a history means the same
thing everywhere:

- ``impression_skip`` events are not positives and never enter a history;
- a user's events are ordered stably by (timestamp, item id), the evaluation protocol's order;
- only the FIRST event of each (user, item) pair counts (a view -> click -> purchase funnel on
  one item is one positive, and an item never appears in its own history);
- a history is the user's distinct earlier items, most recent first, at most ``history_length``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.data.columns import EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID
from components.data.contract import time_key

NEGATIVE_EVENT_TYPES = frozenset({"impression_skip"})
PAD = 0  # padding value in history matrices (masked out by the lengths)


def positive_interactions(interactions: pd.DataFrame) -> pd.DataFrame:
    """``user_id``, ``item_id`` of the first positive event per pair, in protocol order
    (by user, then timestamp, then item id); fresh RangeIndex."""
    for column in (USER_ID, ITEM_ID, TIMESTAMP):
        if column not in interactions.columns:
            raise ValueError(f"interactions lack the column {column!r}")
    frame = interactions
    if EVENT_TYPE in frame.columns:
        frame = frame[~frame[EVENT_TYPE].isin(NEGATIVE_EVENT_TYPES)]
    users = frame[USER_ID].to_numpy(np.int64)
    items = frame[ITEM_ID].to_numpy(np.int64)
    order = np.lexsort((items, time_key(frame[TIMESTAMP]), users))  # stable, last key first
    ordered = pd.DataFrame({USER_ID: users[order], ITEM_ID: items[order]})
    return ordered[~ordered.duplicated([USER_ID, ITEM_ID])].reset_index(drop=True)


def history_matrix(
    users: np.ndarray, items: np.ndarray, history_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by user then time: (padded matrix, lengths) of each row's history.

    Row i's history is the items of the same user's rows before i, most recent first: the
    item of row i itself and of every later row never appear (no leakage of the target).
    """
    users = np.asarray(users)
    items = np.asarray(items)
    n = len(users)
    first = np.r_[True, users[1:] != users[:-1]] if n else np.zeros(0, bool)
    start_of_user = np.maximum.accumulate(np.where(first, np.arange(n), 0)) if n else first
    position = np.arange(n) - start_of_user
    lengths = np.minimum(position, history_length).astype(np.int64)
    matrix = np.full((n, history_length), PAD, dtype=items.dtype if n else np.int64)
    for back in range(1, history_length + 1):
        has = position >= back
        matrix[has, back - 1] = items[np.flatnonzero(has) - back]
    return matrix, lengths


def user_histories(interactions: pd.DataFrame, history_length: int) -> dict[int, list[int]]:
    """User id -> their latest distinct positive item ids, most recent first (raw ids).

    Used to embed users for offline evaluation and at serving time, with the same rules as the
    histories the model was trained on.
    """
    if history_length < 1:
        raise ValueError(f"history_length must be >= 1, got {history_length}")
    positives = positive_interactions(interactions)
    if positives.empty:
        return {}
    from_end = positives.groupby(USER_ID, sort=False).cumcount(ascending=False)
    recent = positives[from_end.to_numpy() < history_length]
    users = recent[USER_ID].to_numpy()
    items = recent[ITEM_ID].to_numpy()
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    groups = np.split(items, starts[1:])
    return {int(u): g[::-1].tolist() for u, g in zip(users[starts], groups, strict=True)}
