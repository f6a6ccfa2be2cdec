"""Point-in-time feature snapshots from raw interactions, in plain pandas/numpy.

Each output row is stamped ``event_timestamp`` = a snapshot time and is computed only from events
with ``timestamp <= snapshot``. Feast's point-in-time join then picks, for a training example at
time T, the latest snapshot at or before T, so no feature ever sees the future.

Speed: events are sorted once by time; every snapshot reads a prefix (``searchsorted``) and adds
only the events since the previous snapshot to running per-user / per-item counters (bincount).
Lists and strings (recent items, category shares) are rebuilt only for users who had new events.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    CATEGORY_SEPARATOR,
    CREATED_AT,
    ITEM_ID,
    TIMESTAMP,
    USER_ID,
)
from components.data.contract import to_utc
from components.features.columns import (
    EVENT_TIMESTAMP,
    ITEM_AGE_DAYS,
    ITEM_AVAILABLE,
    ITEM_CATEGORIES,
    ITEM_EVENTS_7D,
    ITEM_EVENTS_30D,
    ITEM_EVENTS_365D,
    ITEM_EVENTS_ALL,
    ITEM_FEATURES,
    ITEM_TREND,
    ITEM_USERS_30D,
    RECENT_ITEMS_N,
    SHARE_SEPARATOR,
    TOP_CATEGORIES_N,
    USER_CATEGORY_SHARES,
    USER_DAYS_SINCE_FIRST,
    USER_EVENTS_7D,
    USER_EVENTS_30D,
    USER_EVENTS_365D,
    USER_EVENTS_ALL,
    USER_FEATURES,
    USER_ITEMS_ALL,
    USER_RECENT_ITEMS,
    USER_TOP_CATEGORIES,
)

_DAY_NS = 86_400 * 10**9
_NO_NEXT = np.iinfo(np.int64).max


def _ns(values: pd.Series) -> np.ndarray:
    return to_utc(values).to_numpy(dtype="datetime64[ns]").view(np.int64)


def _snapshot(t: pd.Timestamp | str) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).as_unit("ns")


def default_snapshot_times(interactions: pd.DataFrame, n: int = 24) -> list[pd.Timestamp]:
    """``n`` times evenly spaced inside the data's time range, plus one second past the last event.

    The last snapshot sees every event, so materialising it gives the freshest online values and
    a training example dated after the data picks it up.
    """
    if interactions.empty:
        return []
    ts = to_utc(interactions[TIMESTAMP])
    lo, hi = ts.min(), ts.max()
    inner = pd.date_range(lo, hi, periods=n + 2)[1:-1].floor("s") if n > 0 and hi > lo else []
    last = hi.floor("s") + pd.Timedelta(seconds=1)
    return sorted({_snapshot(t) for t in inner if t < last} | {_snapshot(last)})


def _category_index(
    categories: pd.Series,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Vocabulary plus CSR arrays (pointer, category code) of each item's categories."""
    split = categories.fillna("").astype(str).str.split(CATEGORY_SEPARATOR, regex=False)
    exploded = split.explode()
    exploded = exploded[exploded.str.len() > 0]
    vocab = sorted(exploded.unique().tolist())
    codes = pd.Categorical(exploded, categories=vocab).codes.astype(np.int64)
    owner = exploded.index.to_numpy()  # positional item code (categories has a RangeIndex)
    counts = np.bincount(owner, minlength=len(categories))
    pointer = np.concatenate([[0], np.cumsum(counts)])
    return vocab, pointer, codes


def _share_strings(
    matrix: np.ndarray, rows: np.ndarray, vocab: list[str]
) -> tuple[list[str], list[str]]:
    """(top categories, category shares) strings for the given rows, highest share first."""
    top_out: list[str] = []
    share_out: list[str] = []
    if len(rows) == 0:
        return top_out, share_out
    block = matrix[rows]
    totals = block.sum(axis=1, keepdims=True)
    shares = np.divide(block, totals, out=np.zeros_like(block), where=totals > 0)
    order = np.argsort(-shares, axis=1, kind="stable")  # ties keep alphabetical order
    for share_row, order_row in zip(shares, order, strict=True):
        nonzero = order_row[share_row[order_row] > 0]
        names = [vocab[c] for c in nonzero]
        top_out.append(CATEGORY_SEPARATOR.join(names[:TOP_CATEGORIES_N]))
        share_out.append(
            CATEGORY_SEPARATOR.join(
                f"{name}{SHARE_SEPARATOR}{share_row[c]:.4f}"
                for name, c in zip(names, nonzero, strict=True)
            )
        )
    return top_out, share_out


def build_feature_tables(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    snapshot_times: Sequence[pd.Timestamp],
    *,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(user_features, item_features): one row per entity per snapshot, point-in-time correct.

    Users get a row from their first event on; items from their creation (or first event) on.
    ``item_available`` and ``item_categories`` come from the catalog as it is now (the catalog has
    no history); every count uses only events at or before the row's ``event_timestamp``.
    """
    snapshots = sorted({_snapshot(t) for t in snapshot_times})
    snap_ns = np.array([t.value for t in snapshots], dtype=np.int64)

    # Events sorted once by (time, item, user): the same tie-break as the evaluation split.
    events = pd.DataFrame(
        {
            "ts": _ns(interactions[TIMESTAMP]) if len(interactions) else np.array([], np.int64),
            "item": interactions[ITEM_ID].to_numpy(dtype=np.int64),
            "user": interactions[USER_ID].to_numpy(dtype=np.int64),
        }
    ).sort_values(["ts", "item", "user"], kind="stable", ignore_index=True)

    catalog = items.drop_duplicates(ITEM_ID).set_index(ITEM_ID)
    item_ids = np.union1d(catalog.index.to_numpy(dtype=np.int64), events["item"].to_numpy())
    user_ids = np.unique(events["user"].to_numpy())
    n_items, n_users = len(item_ids), len(user_ids)
    catalog = catalog.reindex(item_ids)
    in_catalog = np.isin(item_ids, items[ITEM_ID].to_numpy())

    ts = events["ts"].to_numpy()
    i_code = np.searchsorted(item_ids, events["item"].to_numpy())
    u_code = np.searchsorted(user_ids, events["user"].to_numpy())
    pair = u_code * n_items + i_code
    first_of_pair = (~pd.Series(pair).duplicated()).to_numpy(dtype=np.float64)
    # When the same (user, item) happens next: an event is "latest as of t" iff ts <= t < next.
    next_ts = np.full(len(ts), _NO_NEXT, dtype=np.int64)
    by_pair = np.lexsort((np.arange(len(ts)), pair))
    same = pair[by_pair][1:] == pair[by_pair][:-1]
    next_ts[by_pair[:-1][same]] = ts[by_pair[1:][same]]

    # The same events ordered by user (then time) for the recent-items lists.
    by_user = np.lexsort((np.arange(len(ts)), u_code))
    bu_user, bu_ts, bu_next = u_code[by_user], ts[by_user], next_ts[by_user]
    bu_item = item_ids[i_code[by_user]]

    user_first = np.full(n_users, _NO_NEXT, dtype=np.int64)
    np.minimum.at(user_first, u_code, ts)
    item_first = np.full(n_items, _NO_NEXT, dtype=np.int64)
    np.minimum.at(item_first, i_code, ts)
    created = (
        _ns(catalog[CREATED_AT].reset_index(drop=True))
        if CREATED_AT in catalog and n_items
        else np.full(n_items, np.iinfo(np.int64).min, dtype=np.int64)
    )
    created = np.where(created == np.iinfo(np.int64).min, _NO_NEXT, created)  # NaT -> unknown
    item_birth = np.minimum(created, item_first)  # _NO_NEXT = never seen, no creation date

    categories = (
        catalog[CATEGORIES].reset_index(drop=True)
        if CATEGORIES in catalog
        else pd.Series([""] * n_items)
    ).fillna("")
    available = (
        catalog[AVAILABLE].eq(True).to_numpy(dtype=bool) & in_catalog
        if AVAILABLE in catalog
        else in_catalog
    ).astype(np.int64)

    # Each event spread over its item's categories with weight 1 / (number of categories).
    vocab, cat_ptr, cat_codes = _category_index(categories)
    n_cat_of_item = np.diff(cat_ptr)
    per_event = n_cat_of_item[i_code]
    ev_rep = np.repeat(np.arange(len(ts)), per_event)
    offsets = np.arange(len(ev_rep)) - np.repeat(np.cumsum(per_event) - per_event, per_event)
    ex_cell = u_code[ev_rep] * max(len(vocab), 1) + cat_codes[cat_ptr[i_code[ev_rep]] + offsets]
    ex_weight = 1.0 / per_event[ev_rep] if len(ev_rep) else np.array([], np.float64)
    ex_end = np.concatenate([[0], np.cumsum(per_event)])  # exploded rows of events [0, k)

    user_all = np.zeros(n_users, np.int64)
    user_items = np.zeros(n_users, np.float64)
    item_all = np.zeros(n_items, np.int64)
    cat_matrix = np.zeros((n_users, max(len(vocab), 1)), np.float64)
    recent: list[list[int]] = [[] for _ in range(n_users)]
    top_cats = [""] * n_users
    shares = [""] * n_users

    user_frames: list[pd.DataFrame] = []
    item_frames: list[pd.DataFrame] = []
    prev_k = 0
    for t_ns, t in zip(
        snap_ns, tqdm(snapshots, desc="feature snapshots", disable=not progress), strict=True
    ):
        k = int(np.searchsorted(ts, t_ns, side="right"))
        # Window (t - d, t] = events [lo_d, k).
        lo7, lo30, lo60, lo365 = (
            int(np.searchsorted(ts, t_ns - days * _DAY_NS, side="right"))
            for days in (7, 30, 60, 365)
        )
        new_u, new_i = u_code[prev_k:k], i_code[prev_k:k]
        user_all += np.bincount(new_u, minlength=n_users)
        user_items += np.bincount(new_u, weights=first_of_pair[prev_k:k], minlength=n_users)
        item_all += np.bincount(new_i, minlength=n_items)
        a, b = ex_end[prev_k], ex_end[k]
        cat_matrix += np.bincount(
            ex_cell[a:b], weights=ex_weight[a:b], minlength=cat_matrix.size
        ).reshape(cat_matrix.shape)

        changed = np.unique(new_u)
        if len(changed):
            top, share = _share_strings(cat_matrix, changed, vocab)
            for row, top_s, share_s in zip(changed, top, share, strict=True):
                top_cats[row], shares[row] = top_s, share_s
            # Latest occurrence of each (user, item) as of t, last RECENT_ITEMS_N per user.
            keep = np.isin(bu_user, changed) & (bu_ts <= t_ns) & (bu_next > t_ns)
            idx = np.flatnonzero(keep)
            owners = bu_user[idx]
            from_end = np.searchsorted(owners, owners, side="right") - np.arange(len(idx)) - 1
            idx, owners = idx[from_end < RECENT_ITEMS_N], owners[from_end < RECENT_ITEMS_N]
            picked, owners = bu_item[idx][::-1], owners[::-1]  # most recent first
            bounds = np.flatnonzero(np.diff(owners)) + 1
            for chunk_items, chunk_owner in zip(
                np.split(picked, bounds), np.split(owners, bounds), strict=True
            ):
                recent[int(chunk_owner[0])] = chunk_items.tolist()

        active_users = np.flatnonzero(user_first <= t_ns)
        if len(active_users):
            window = {
                USER_EVENTS_7D: np.bincount(u_code[lo7:k], minlength=n_users),
                USER_EVENTS_30D: np.bincount(u_code[lo30:k], minlength=n_users),
                USER_EVENTS_365D: np.bincount(u_code[lo365:k], minlength=n_users),
            }
            frame = pd.DataFrame(
                {
                    USER_ID: user_ids[active_users],
                    EVENT_TIMESTAMP: t,
                    **{name: counts[active_users] for name, counts in window.items()},
                    USER_EVENTS_ALL: user_all[active_users],
                    USER_ITEMS_ALL: user_items[active_users].astype(np.int64),
                    USER_DAYS_SINCE_FIRST: (t_ns - user_first[active_users]) / _DAY_NS,
                    USER_RECENT_ITEMS: [recent[u] for u in active_users],
                    USER_TOP_CATEGORIES: [top_cats[u] for u in active_users],
                    USER_CATEGORY_SHARES: [shares[u] for u in active_users],
                }
            )
            user_frames.append(frame)

        live = np.flatnonzero((item_birth <= t_ns) | (item_birth == _NO_NEXT))
        if len(live):
            e30 = np.bincount(i_code[lo30:k], minlength=n_items)
            e_prev30 = np.bincount(i_code[lo60:lo30], minlength=n_items)
            window_pairs = np.unique(pair[lo30:k])
            users_30d = np.bincount(window_pairs % n_items, minlength=n_items)
            birth = item_birth[live]
            age = np.where(birth == _NO_NEXT, 0.0, np.maximum(t_ns - birth, 0) / _DAY_NS)
            frame = pd.DataFrame(
                {
                    ITEM_ID: item_ids[live],
                    EVENT_TIMESTAMP: t,
                    ITEM_EVENTS_7D: np.bincount(i_code[lo7:k], minlength=n_items)[live],
                    ITEM_EVENTS_30D: e30[live],
                    ITEM_EVENTS_365D: np.bincount(i_code[lo365:k], minlength=n_items)[live],
                    ITEM_EVENTS_ALL: item_all[live],
                    ITEM_USERS_30D: users_30d[live],
                    ITEM_TREND: np.log((e30[live] + 1.0) / (e_prev30[live] + 1.0)),
                    ITEM_AGE_DAYS: age,
                    ITEM_AVAILABLE: available[live],
                    ITEM_CATEGORIES: categories.to_numpy(dtype=object)[live],
                }
            )
            item_frames.append(frame)
        prev_k = k

    user_features = _concat(user_frames, USER_ID, USER_FEATURES)
    item_features = _concat(item_frames, ITEM_ID, ITEM_FEATURES)
    return user_features, item_features


def _concat(frames: list[pd.DataFrame], key: str, features: Sequence[str]) -> pd.DataFrame:
    columns = [key, EVENT_TIMESTAMP, *features]
    if not frames:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        empty[key] = empty[key].astype(np.int64)
        empty[EVENT_TIMESTAMP] = empty[EVENT_TIMESTAMP].astype("datetime64[ns, UTC]")
        return empty
    out = pd.concat(frames, ignore_index=True)[columns]
    out[EVENT_TIMESTAMP] = out[EVENT_TIMESTAMP].astype("datetime64[ns, UTC]")
    return out
