"""Point-in-time feature snapshots from raw interactions, in plain pandas/numpy.

Each output row is stamped ``event_timestamp`` = a snapshot time and is computed only from events
with ``timestamp <= snapshot``. Feast's point-in-time join then picks, for a training example at
time T, the latest snapshot at or before T, so no feature ever sees the future.

Speed: events are sorted once by time; every snapshot reads a prefix (``searchsorted``) and adds
only the events since the previous snapshot to running per-user / per-item counters (bincount).
Lists and strings (recent items, category shares) are rebuilt only for users who had new events.

Event semantics (the event table, docs/features.md): a user's activity counts
(``user_events_*``, ``user_items_all``) count every event, skips included (how active the
user is); preference features count positives only: ``user_recent_items`` is
``two_tower.history.recent_positive_items`` (the history training uses), the category shares
and the item counts (``item_events_*``, ``item_users_30d``, ``item_trend``) count positive
events, so a skipped item is neither a taste nor popular.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    CATEGORY_SEPARATOR,
    CREATED_AT,
    EVENT_TYPE,
    ITEM_ID,
    TIMESTAMP,
    USER_ID,
    VALUE,
)
from components.data.contract import to_utc
from components.data.events import EventTable, event_weights
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
    USER_DAYS_SINCE_LAST,
    USER_EVENTS_7D,
    USER_EVENTS_30D,
    USER_EVENTS_365D,
    USER_EVENTS_ALL,
    USER_FEATURES,
    USER_ITEMS_ALL,
    USER_RECENT_ITEMS,
    USER_TOP_CATEGORIES,
)
from components.two_tower.history import recent_positive_items

_DAY_NS = 86_400 * 10**9
_NO_NEXT = np.iinfo(np.int64).max
_WINDOW_DAYS = (7, 30, 60, 365)  # 60: the 30 days before the last 30 (item_trend)


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


@dataclass(frozen=True)
class SnapshotInputs:
    """Interactions as integer codes, sorted once, and the catalog aligned with the item codes.

    Events are sorted by (time, item, user): the same tie-break as the evaluation split. Ids are
    coded by position in ``user_ids`` / ``item_ids`` (every catalog item plus every item seen).
    """

    ts: np.ndarray  # event time, ns since the epoch, ascending
    user_ids: np.ndarray
    item_ids: np.ndarray
    u_code: np.ndarray  # per event
    i_code: np.ndarray  # per event
    categories: pd.Series  # per item code, pipe-joined ("" if none)
    available: np.ndarray  # per item code: 1 = in the catalog and available
    created: np.ndarray  # per item code: creation time in ns, _NO_NEXT if unknown
    positive: np.ndarray  # per event: a positive per the event table
    events: pd.DataFrame  # the sorted events (ids, time in ns, type, value): for histories
    table: EventTable | None = None  # the event table (None = the settings')

    @property
    def pair(self) -> np.ndarray:
        """(user, item) per event as one integer."""
        return self.u_code * len(self.item_ids) + self.i_code


@dataclass(frozen=True)
class Window:
    """Snapshot ``t``: events ``[0, k)`` happened by then, ``[since[d], k)`` in its last d days."""

    t: pd.Timestamp
    t_ns: int
    k: int
    since: dict[int, int]


def snapshot_inputs(
    interactions: pd.DataFrame, items: pd.DataFrame, table: EventTable | None = None
) -> SnapshotInputs:
    """Code and sort the events once; line the catalog up with the item codes."""
    _, positive = event_weights(interactions, table)
    events = pd.DataFrame(
        {
            "ts": _ns(interactions[TIMESTAMP]) if len(interactions) else np.array([], np.int64),
            "item": interactions[ITEM_ID].to_numpy(dtype=np.int64),
            "user": interactions[USER_ID].to_numpy(dtype=np.int64),
            "positive": positive,
            **{c: interactions[c].to_numpy() for c in (EVENT_TYPE, VALUE) if c in interactions},
        }
    ).sort_values(["ts", "item", "user"], kind="stable", ignore_index=True)

    catalog = items.drop_duplicates(ITEM_ID).set_index(ITEM_ID)
    item_ids = np.union1d(catalog.index.to_numpy(dtype=np.int64), events["item"].to_numpy())
    user_ids = np.unique(events["user"].to_numpy())
    n_items = len(item_ids)
    catalog = catalog.reindex(item_ids)
    in_catalog = np.isin(item_ids, items[ITEM_ID].to_numpy())

    ts = events["ts"].to_numpy()
    i_code = np.searchsorted(item_ids, events["item"].to_numpy())
    u_code = np.searchsorted(user_ids, events["user"].to_numpy())

    created = (
        _ns(catalog[CREATED_AT].reset_index(drop=True))
        if CREATED_AT in catalog and n_items
        else np.full(n_items, np.iinfo(np.int64).min, dtype=np.int64)
    )
    created = np.where(created == np.iinfo(np.int64).min, _NO_NEXT, created)  # NaT -> unknown
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
    return SnapshotInputs(
        ts=ts,
        user_ids=user_ids,
        item_ids=item_ids,
        u_code=u_code,
        i_code=i_code,
        categories=categories,
        available=available,
        created=created,
        positive=events["positive"].to_numpy(bool),
        events=events.drop(columns="positive").rename(
            columns={"ts": TIMESTAMP, "item": ITEM_ID, "user": USER_ID}
        ),
        table=table,
    )


def snapshot_windows(ts: np.ndarray, snapshot_times: Sequence[pd.Timestamp]) -> list[Window]:
    """The snapshots in time order, each with where its windows start in the sorted events."""
    windows = []
    for t in sorted({_snapshot(t) for t in snapshot_times}):
        t_ns = t.value
        since = {
            days: int(np.searchsorted(ts, t_ns - days * _DAY_NS, side="right"))
            for days in _WINDOW_DAYS
        }
        windows.append(Window(t, t_ns, int(np.searchsorted(ts, t_ns, side="right")), since))
    return windows


def _count(codes: np.ndarray, n: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Events per code (only where ``mask``, when given), for all ``n`` codes."""
    if mask is None:
        return np.bincount(codes, minlength=n)
    return np.bincount(codes[mask], minlength=n)


def _first_event(codes: np.ndarray, ts: np.ndarray, n: int) -> np.ndarray:
    first = np.full(n, _NO_NEXT, dtype=np.int64)
    np.minimum.at(first, codes, ts)
    return first


def user_features(
    inputs: SnapshotInputs, windows: Sequence[Window], *, progress: bool = False
) -> pd.DataFrame:
    """The user view: one row per user per snapshot from the user's first event on.

    Running per-user counters take only the events since the previous snapshot; the recent-items
    list and the category strings are rebuilt only for users who had new events.
    """
    ts, u_code = inputs.ts, inputs.u_code
    n_users = len(inputs.user_ids)
    first_of_pair = (~pd.Series(inputs.pair).duplicated()).to_numpy(dtype=np.float64)
    user_first = _first_event(u_code, ts, n_users)
    recent = _RecentItems(inputs)
    shares = _CategoryShares(inputs)
    user_all = np.zeros(n_users, np.int64)
    user_items = np.zeros(n_users, np.float64)
    user_last = np.full(n_users, np.iinfo(np.int64).min, np.int64)

    frames: list[pd.DataFrame] = []
    prev_k = 0
    for w in tqdm(windows, desc="user feature snapshots", disable=not progress):
        k = w.k
        new_u = u_code[prev_k:k]
        user_all += _count(new_u, n_users)
        user_items += np.bincount(new_u, weights=first_of_pair[prev_k:k], minlength=n_users)
        np.maximum.at(user_last, new_u, ts[prev_k:k])
        shares.add(prev_k, k)
        changed = np.unique(new_u)
        shares.refresh(changed)
        recent.refresh(changed, w.t_ns)
        prev_k = k

        active = np.flatnonzero(user_first <= w.t_ns)
        if not len(active):
            continue
        frames.append(
            pd.DataFrame(
                {
                    USER_ID: inputs.user_ids[active],
                    EVENT_TIMESTAMP: w.t,
                    USER_EVENTS_7D: _count(u_code[w.since[7] : k], n_users)[active],
                    USER_EVENTS_30D: _count(u_code[w.since[30] : k], n_users)[active],
                    USER_EVENTS_365D: _count(u_code[w.since[365] : k], n_users)[active],
                    USER_EVENTS_ALL: user_all[active],
                    USER_ITEMS_ALL: user_items[active].astype(np.int64),
                    USER_DAYS_SINCE_FIRST: (w.t_ns - user_first[active]) / _DAY_NS,
                    USER_RECENT_ITEMS: [recent.lists[u] for u in active],
                    USER_TOP_CATEGORIES: [shares.top[u] for u in active],
                    USER_CATEGORY_SHARES: [shares.shares[u] for u in active],
                    USER_DAYS_SINCE_LAST: (w.t_ns - user_last[active]) / _DAY_NS,
                }
            )
        )
    return _concat(frames, USER_ID, USER_FEATURES)


class _RecentItems:
    """Per user: ``recent_positive_items`` of their events so far (RECENT_ITEMS_N long), the
    same function and rules as the histories training feeds the user tower."""

    def __init__(self, inputs: SnapshotInputs) -> None:
        self._events = inputs.events
        self._user = inputs.u_code
        self._ts = inputs.ts
        self._user_ids = inputs.user_ids
        self._table = inputs.table
        self.lists: list[list[int]] = [[] for _ in range(len(inputs.user_ids))]

    def refresh(self, users: np.ndarray, t_ns: int) -> None:
        """Rebuild the lists of ``users`` as of ``t_ns``."""
        if not len(users):
            return
        keep = np.isin(self._user, users) & (self._ts <= t_ns)
        histories = recent_positive_items(self._events[keep], RECENT_ITEMS_N, self._table)
        for u in users:
            self.lists[int(u)] = histories.get(int(self._user_ids[u]), [])


class _CategoryShares:
    """Per user: category weights (each positive event spread over its item's categories, 1/n
    each) and
    the top-categories and shares strings made from them."""

    def __init__(self, inputs: SnapshotInputs) -> None:
        u_code, i_code = inputs.u_code, inputs.i_code
        n_users = len(inputs.user_ids)
        vocab, cat_ptr, cat_codes = _category_index(inputs.categories)
        per_event = np.diff(cat_ptr)[i_code]
        ev_rep = np.repeat(np.arange(len(i_code)), per_event)
        offsets = np.arange(len(ev_rep)) - np.repeat(np.cumsum(per_event) - per_event, per_event)
        self._vocab = vocab
        self._cell = (
            u_code[ev_rep] * max(len(vocab), 1) + cat_codes[cat_ptr[i_code[ev_rep]] + offsets]
        )
        self._weight = (
            inputs.positive[ev_rep] / per_event[ev_rep] if len(ev_rep) else np.array([], np.float64)
        )
        self._end = np.concatenate([[0], np.cumsum(per_event)])  # exploded rows of events [0, k)
        self._matrix = np.zeros((n_users, max(len(vocab), 1)), np.float64)
        self.top = [""] * n_users
        self.shares = [""] * n_users

    def add(self, start: int, stop: int) -> None:
        """Count the events ``[start, stop)``."""
        a, b = self._end[start], self._end[stop]
        self._matrix += np.bincount(
            self._cell[a:b], weights=self._weight[a:b], minlength=self._matrix.size
        ).reshape(self._matrix.shape)

    def refresh(self, users: np.ndarray) -> None:
        """Rebuild the strings of ``users`` from the current weights."""
        if not len(users):
            return
        top, share = _share_strings(self._matrix, users, self._vocab)
        for row, top_s, share_s in zip(users, top, share, strict=True):
            self.top[row], self.shares[row] = top_s, share_s


def item_features(inputs: SnapshotInputs, windows: Sequence[Window]) -> pd.DataFrame:
    """The item view: one row per item per snapshot from its creation (or first event) on.

    ``item_available`` and ``item_categories`` come from the catalog as it is now (the catalog
    has no history); every count uses only events at or before the row's time.
    """
    i_code, pair, pos = inputs.i_code, inputs.pair, inputs.positive
    n_items = len(inputs.item_ids)
    birth = np.minimum(inputs.created, _first_event(i_code, inputs.ts, n_items))
    categories = inputs.categories.to_numpy(dtype=object)
    item_all = np.zeros(n_items, np.int64)

    frames: list[pd.DataFrame] = []
    prev_k = 0
    for w in windows:
        k = w.k
        item_all += _count(i_code[prev_k:k], n_items, pos[prev_k:k])
        prev_k = k
        live = np.flatnonzero((birth <= w.t_ns) | (birth == _NO_NEXT))  # _NO_NEXT: no date
        if not len(live):
            continue
        lo30 = w.since[30]
        e30 = _count(i_code[lo30:k], n_items, pos[lo30:k])
        e_prev30 = _count(i_code[w.since[60] : lo30], n_items, pos[w.since[60] : lo30])
        users_30d = _count(np.unique(pair[lo30:k][pos[lo30:k]]) % n_items, n_items)
        age = np.where(birth[live] == _NO_NEXT, 0.0, np.maximum(w.t_ns - birth[live], 0) / _DAY_NS)
        frames.append(
            pd.DataFrame(
                {
                    ITEM_ID: inputs.item_ids[live],
                    EVENT_TIMESTAMP: w.t,
                    ITEM_EVENTS_7D: _count(i_code[w.since[7] : k], n_items, pos[w.since[7] : k])[
                        live
                    ],
                    ITEM_EVENTS_30D: e30[live],
                    ITEM_EVENTS_365D: _count(
                        i_code[w.since[365] : k], n_items, pos[w.since[365] : k]
                    )[live],
                    ITEM_EVENTS_ALL: item_all[live],
                    ITEM_USERS_30D: users_30d[live],
                    ITEM_TREND: np.log((e30[live] + 1.0) / (e_prev30[live] + 1.0)),
                    ITEM_AGE_DAYS: age,
                    ITEM_AVAILABLE: inputs.available[live],
                    ITEM_CATEGORIES: categories[live],
                }
            )
        )
    return _concat(frames, ITEM_ID, ITEM_FEATURES)


def build_feature_tables(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    snapshot_times: Sequence[pd.Timestamp],
    *,
    progress: bool = False,
    table: EventTable | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(user_features, item_features): one row per entity per snapshot, point-in-time correct."""
    inputs = snapshot_inputs(interactions, items, table)
    windows = snapshot_windows(inputs.ts, snapshot_times)
    return user_features(inputs, windows, progress=progress), item_features(inputs, windows)


def _concat(frames: list[pd.DataFrame], key: str, features: Sequence[str]) -> pd.DataFrame:
    columns = [key, EVENT_TIMESTAMP, *features]
    if not frames:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        empty[key] = empty[key].astype(np.int64)
        empty[EVENT_TIMESTAMP] = empty[EVENT_TIMESTAMP].astype("datetime64[ns, UTC]")
        return empty
    out = pd.concat(frames, ignore_index=True)
    missing = [c for c in columns if c not in out]
    if missing:
        raise KeyError(f"declared features not computed by the builder: {missing}")
    out = out[columns]
    out[EVENT_TIMESTAMP] = out[EVENT_TIMESTAMP].astype("datetime64[ns, UTC]")
    return out
