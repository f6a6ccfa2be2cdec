"""Which events are positives, in what order, and what a user's history is at each one.

One definition serves training, offline evaluation, the feature store and serving, so a history
means the same thing everywhere (``recent_positive_items`` is the only history function):

- what an event means comes from the event table (``components.data.events``): negatives (a
  skip, a short view, a low rating) are never positives and never enter a history;
- a (user, item) pair is one positive if any of its events is one; its weight is its strongest
  positive event's, its time its first positive event's (a view -> click -> purchase funnel on
  one item is one positive of weight 5, placed where the user first engaged);
- a user's pairs are ordered stably by (that time, item id), the evaluation protocol's order;
  users come in ``data.order.user_order`` (by their events, never by their keyed ids);
- a history is the user's distinct earlier positive items, most recent first, at most
  ``history_length``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.data.columns import ITEM_ID, TIMESTAMP, USER_ID
from components.data.contract import time_key
from components.data.events import EventTable, event_weights
from components.data.order import user_order

PAD = 0  # padding value in history matrices (masked out by the lengths)
WEIGHT = "weight"


def positive_interactions(
    interactions: pd.DataFrame, table: EventTable | None = None
) -> pd.DataFrame:
    """``user_id``, ``item_id``, ``weight``: one row per positive pair (max weight of its
    positive events), in protocol order (by user in ``user_order``, then first positive time,
    then item id); fresh RangeIndex. Pairs whose events are all negative are left out."""
    for column in (USER_ID, ITEM_ID, TIMESTAMP):
        if column not in interactions.columns:
            raise ValueError(f"interactions lack the column {column!r}")
    weight, positive = event_weights(interactions, table)
    codes = user_order(interactions)[0][positive]
    frame = interactions[positive]
    weight = weight[positive]
    users = frame[USER_ID].to_numpy(np.int64)
    items = frame[ITEM_ID].to_numpy(np.int64)
    order = np.lexsort((items, time_key(frame[TIMESTAMP]), codes))  # stable, last key first
    ordered = pd.DataFrame({USER_ID: users[order], ITEM_ID: items[order], WEIGHT: weight[order]})
    strongest = ordered.groupby([USER_ID, ITEM_ID], sort=False)[WEIGHT].transform("max")
    ordered[WEIGHT] = strongest.to_numpy(np.float64)
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


def recent_positive_items(
    events: pd.DataFrame, history_length: int, table: EventTable | None = None
) -> dict[int, list[int]]:
    """User id -> their latest distinct positive item ids, most recent first (raw ids).

    The one history function: training's rows (``history_matrix`` over
    ``positive_interactions``), offline evaluation, the feature store's ``user_recent_items``
    and so serving all read a user's history through these rules.
    """
    if history_length < 1:
        raise ValueError(f"history_length must be >= 1, got {history_length}")
    positives = positive_interactions(events, table)
    if positives.empty:
        return {}
    from_end = positives.groupby(USER_ID, sort=False).cumcount(ascending=False)
    recent = positives[from_end.to_numpy() < history_length]
    users = recent[USER_ID].to_numpy()
    items = recent[ITEM_ID].to_numpy()
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    groups = np.split(items, starts[1:])
    return {int(u): g[::-1].tolist() for u, g in zip(users[starts], groups, strict=True)}
