"""The one order of users every training and evaluation step visits them in: by their events.

User ids are keyed hashes (``components.privacy.ids``), so their values, and any order sorted
by them, change with the id key: sorting by id would make the key a hidden seed (which users
are drawn for validation, which rows of an embedding table they get, which batches they share).
``user_order`` orders users by what they did instead: first event time, then number of events,
then a digest of their events (item, time, event type, value), so the same data gives the same
order under any key. Only users with identical event lists tie (then by id; they are
interchangeable in that frame).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.data.columns import EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID, VALUE
from components.data.contract import time_key


def user_order(interactions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, users)``: the frame's distinct user ids in content order (``users``, int64)
    and each row's user as a position in it (``codes``), like ``np.unique(..., return_inverse)``
    but independent of the id values. Columns the frame lacks (a timestamp, an event type)
    simply do not count."""
    ids = interactions[USER_ID].to_numpy(np.int64)
    distinct, inverse = np.unique(ids, return_inverse=True)
    if not len(ids):
        return inverse.astype(np.int64), distinct
    timed = TIMESTAMP in interactions.columns
    stamps = time_key(interactions[TIMESTAMP]).astype(np.int64) if timed else np.zeros(len(ids))
    first = np.full(len(distinct), np.iinfo(np.int64).max)
    np.minimum.at(first, inverse, stamps.astype(np.int64))
    counts = np.bincount(inverse, minlength=len(distinct))
    content = [c for c in (ITEM_ID, TIMESTAMP, EVENT_TYPE, VALUE) if c in interactions.columns]
    rows = pd.DataFrame({c: interactions[c].to_numpy() for c in content})
    row_hash = pd.util.hash_pandas_object(rows, index=False).to_numpy(np.uint64)
    digest = np.zeros(len(distinct), np.uint64)
    np.add.at(digest, inverse, row_hash)  # a sum: the same events in any row order, wrapping
    order = np.lexsort((digest, counts, first))  # stable: full ties keep the id order
    position = np.empty(len(distinct), np.int64)
    position[order] = np.arange(len(distinct))
    return position[inverse], distinct[order]


def ordered_users(interactions: pd.DataFrame) -> list[int]:
    """The frame's distinct user ids in content order (``user_order``), as Python ints."""
    return user_order(interactions)[1].tolist()
