"""Ranker scoring of a candidate pool, through the feature code training used.

``ranker_feature_frame`` (components.features.ranking) turns online feature rows into the model
matrix exactly as it turns the point-in-time join into the training matrix, so the only
difference between training and serving is where the raw rows come from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from components.data.columns import CATEGORY_SEPARATOR, ITEM_ID, USER_ID
from components.features.columns import (
    COVISIT_SCORE,
    FEATURES,
    ITEM_AVAILABLE,
    ITEM_CATEGORIES,
    ITEM_ENTITY,
    ITEM_IN_TOP_CATEGORY,
    RETRIEVAL_RANK,
    RETRIEVAL_SCORE,
    SHARE_SEPARATOR,
    USER_CATEGORY_AFFINITY,
    USER_CATEGORY_SHARES,
    USER_ENTITY,
    USER_TOP_CATEGORIES,
    Ranker,
    Source,
)
from components.features.ranking import DEFAULT_FEATURES, RANKER_FEATURES, ranker_feature_frame
from components.features.store import FOUND
from components.recommend.candidates import CandidatePool


class Scorer(Protocol):
    def score(self, features: pd.DataFrame) -> np.ndarray: ...


def score_matrix(ranker: Scorer, matrix: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """The ranker's scores and, from the same prediction, each row's dominant action (object
    array; ``""`` where none adds to the score) when the ranker has per-action heads
    (``Ranker.explain``); a scorer without heads gives scores and None. One prediction either
    way: the action costs an argmax over the heads' weighted probabilities."""
    explain = getattr(ranker, "explain", None)
    if explain is None:
        return np.asarray(ranker.score(matrix), dtype=np.float64).reshape(-1), None
    scores, dominant = explain(matrix)
    return np.asarray(scores, dtype=np.float64).reshape(-1), np.asarray(dominant, dtype=object)


def candidate_pairs(pool: CandidatePool) -> pd.DataFrame:
    """The (user, item, retrieval score, retrieval rank, co-visitation score) rows the ranker
    matrix is built on (a pool without co-visitation scores gets the feature's default)."""
    pairs = pd.DataFrame(
        {
            USER_ID: np.full(len(pool), pool.user_id, dtype=np.int64),
            ITEM_ID: pool.item_ids.astype(np.int64),
            RETRIEVAL_SCORE: pool.retrieval_scores.astype(np.float64),
            RETRIEVAL_RANK: pool.retrieval_ranks.astype(np.float64),
        }
    )
    if pool.covisit_scores is not None:
        pairs[COVISIT_SCORE] = np.asarray(pool.covisit_scores, dtype=np.float64)
    return pairs


def ranker_matrix(
    pool: CandidatePool, user_features: pd.DataFrame | None, item_features: pd.DataFrame | None
) -> pd.DataFrame:
    """``RANKER_FEATURES`` for every candidate; missing frames (store down) mean defaults."""
    users = user_features if user_features is not None else pd.DataFrame()
    items = item_features if item_features is not None else pd.DataFrame()
    return ranker_feature_frame(users, items, candidate_pairs(pool))


def score_candidates(
    pool: CandidatePool,
    ranker: Scorer | None,
    user_features: pd.DataFrame | None,
    item_features: pd.DataFrame | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Ranker scores (higher = better) and dominant actions (``score_matrix``). Without a
    ranker: the retrieval order as a score, and no actions."""
    if not len(pool):
        return np.zeros(0, dtype=np.float64), None
    if ranker is None:
        return pool.retrieval_order(), None
    return score_matrix(ranker, ranker_matrix(pool, user_features, item_features))


def found_flags(rows: pd.DataFrame) -> np.ndarray:
    """Per row, whether the online store had it (``FOUND``; a missing flag counts as not)."""
    return rows[FOUND].astype("boolean").fillna(False).to_numpy(dtype=bool)


def online_availability(pool: CandidatePool, item_features: pd.DataFrame | None) -> np.ndarray:
    """Catalog availability, overridden by the online store where it knows the item (the store
    is refreshed more often than the catalog snapshot serving loaded)."""
    available = pool.available.copy()
    if item_features is None or ITEM_AVAILABLE not in item_features or not len(item_features):
        return available
    frame = item_features
    if ITEM_ID in frame.columns:
        frame = frame.set_index(ITEM_ID)
    frame = frame[~frame.index.duplicated(keep="last")]
    rows = frame.reindex(pd.Index(pool.item_ids, dtype="int64"))
    values = pd.to_numeric(rows[ITEM_AVAILABLE], errors="coerce")
    found = values.notna().to_numpy()
    if FOUND in rows:
        found &= found_flags(rows)
    online = values.fillna(1).to_numpy() > 0
    return np.where(found, available & online, available)


# --- the ranker matrix from held item rows, without a DataFrame per request ---------------------

_ITEM_COLUMNS = tuple(
    f.name for f in FEATURES if f.ranker is Ranker.COLUMN and f.entity == ITEM_ENTITY
)
_USER_COLUMNS = tuple(
    f.name
    for f in FEATURES
    if f.ranker is Ranker.COLUMN and f.entity == USER_ENTITY and f.source is Source.SNAPSHOT
)
_POSITION = {name: i for i, name in enumerate(RANKER_FEATURES)}


def _share(text: str) -> float:
    """A share as ``pd.to_numeric(errors="coerce").fillna(0)`` reads it."""
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return 0.0 if np.isnan(value) else value


ABSENT_ID = 0  # no item has it (ids are > 0, or hashed strings <= -2**62): an unknown item's row
MAX_ABSENT_ITEMS = 200_000  # store-unknown ids remembered per materialization (~15 MB at most)


@dataclass(frozen=True)
class ItemMatrix:
    """The item side of the ranker matrix for every held item, computed once per load by
    ``ranker_feature_frame`` itself, and each item's categories as codes (CSR): a request then
    takes its candidates' rows by index and computes only what depends on the user (their
    numbers, category affinity, top category) with numpy. Same numbers as
    ``ranker_feature_frame`` over an online read (unit test)."""

    ids: np.ndarray  # sorted item ids
    columns: np.ndarray  # (items, len(_ITEM_COLUMNS)) float64
    category_ptr: np.ndarray  # item i's category codes: codes[ptr[i]:ptr[i + 1]]
    category_codes: np.ndarray
    vocabulary: dict[str, int]
    store_knows: np.ndarray  # the online store has an availability for the item
    store_available: np.ndarray  # ... and says it is available
    # The row an online read gives an item the store does not know (defaults, not found), and
    # the ids an online read found unknown in this materialization (``note_absent``): they take
    # that row instead of the frame path. Bounded; past the bound they are read online.
    absent_row: int | None = None
    absent: set[int] = field(default_factory=set)

    @classmethod
    def from_rows(cls, items: pd.DataFrame, unknown: pd.DataFrame | None = None) -> ItemMatrix:
        """``items``: online item rows indexed by item id (``ItemFeatures.frame``); ``unknown``:
        the online read of ``ABSENT_ID``, an id no item has (the row of any unknown item)."""
        if unknown is not None:
            items = pd.concat([items, unknown.loc[[ABSENT_ID]]])
        frame = items[~items.index.duplicated(keep="last")].sort_index()
        ids = frame.index.to_numpy(dtype=np.int64)
        pairs = pd.DataFrame(
            {USER_ID: np.zeros(len(ids), dtype=np.int64), ITEM_ID: ids, RETRIEVAL_SCORE: 0.0}
        )
        pairs[RETRIEVAL_RANK] = 0.0
        matrix = ranker_feature_frame(pd.DataFrame(), frame, pairs)
        texts = (
            frame[ITEM_CATEGORIES].fillna("").astype(str).tolist()
            if ITEM_CATEGORIES in frame
            else [""] * len(ids)
        )
        vocabulary: dict[str, int] = {}
        codes: list[int] = []
        ptr = [0]
        for text in texts:
            for category in text.split(CATEGORY_SEPARATOR):
                if category:
                    codes.append(vocabulary.setdefault(category, len(vocabulary)))
            ptr.append(len(codes))
        knows, available = held_availability(frame, ids)
        return cls(
            ids,
            matrix[list(_ITEM_COLUMNS)].to_numpy(dtype=np.float64),
            np.asarray(ptr, dtype=np.int64),
            np.asarray(codes, dtype=np.int64),
            vocabulary,
            knows,
            available,
            absent_row=int(np.searchsorted(ids, ABSENT_ID)) if unknown is not None else None,
        )

    def note_absent(self, item_ids: Iterable[int]) -> None:
        """Ids an online read found unknown to the store: later pools take the unknown row for
        them (until the next materialization, which builds a new matrix)."""
        if self.absent_row is None:
            return
        for item_id in item_ids:
            if len(self.absent) >= MAX_ABSENT_ITEMS:
                return
            self.absent.add(int(item_id))

    def availability(self, pool: CandidatePool, rows: np.ndarray) -> np.ndarray:
        """``online_availability(pool, <the held rows>)``."""
        knows = self.store_knows[rows]
        return np.where(knows, pool.available & self.store_available[rows], pool.available)

    def positions(self, item_ids: np.ndarray) -> np.ndarray | None:
        """Row of each id, or None when one is not held (then the frame path answers)."""
        ids = np.asarray(item_ids, dtype=np.int64)
        if not len(self.ids):
            return None
        rows = np.searchsorted(self.ids, ids).clip(0, len(self.ids) - 1)
        missing = self.ids[rows] != ids
        if not missing.any():
            return rows
        if self.absent_row is None or not all(int(i) in self.absent for i in ids[missing]):
            return None
        rows[missing] = self.absent_row
        return rows

    def ranker_matrix(
        self, pool: CandidatePool, rows: np.ndarray, user_features: pd.DataFrame | None
    ) -> pd.DataFrame:
        """``ranker_matrix(pool, user_features, <the held rows>)`` for a pool whose items are
        all held (``rows`` from ``positions``)."""
        n = len(rows)
        out = np.empty((n, len(RANKER_FEATURES)), dtype=np.float64)
        out[:, _POSITION[RETRIEVAL_SCORE]] = pool.retrieval_scores
        out[:, _POSITION[RETRIEVAL_RANK]] = pool.retrieval_ranks
        out[:, _POSITION[COVISIT_SCORE]] = (
            DEFAULT_FEATURES[COVISIT_SCORE]
            if pool.covisit_scores is None
            else np.asarray(pool.covisit_scores, dtype=np.float64)
        )
        for j, name in enumerate(_ITEM_COLUMNS):
            out[:, _POSITION[name]] = self.columns[rows, j]
        user = _user_row(user_features, pool.user_id)
        for name in _USER_COLUMNS:
            out[:, _POSITION[name]] = _user_number(user, name)
        shares = np.zeros(len(self.vocabulary) + 1)  # the last code: not in any item
        for entry in _user_text(user, USER_CATEGORY_SHARES).split(CATEGORY_SEPARATOR):
            if entry:
                category, _, share = entry.rpartition(SHARE_SEPARATOR)
                shares[self.vocabulary.get(category, -1)] += _share(share)
        shares[-1] = 0.0
        top = _user_text(user, USER_TOP_CATEGORIES).split(CATEGORY_SEPARATOR)[0]
        top_code = self.vocabulary.get(top, -1) if top else -1
        starts, ends = self.category_ptr[rows], self.category_ptr[rows + 1]
        counts = ends - starts
        owner = np.repeat(np.arange(n), counts)
        flat = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        codes = self.category_codes[np.repeat(starts, counts) + flat]
        affinity = np.bincount(owner, weights=shares[codes], minlength=n)
        in_top = np.bincount(owner, weights=(codes == top_code), minlength=n) > 0
        out[:, _POSITION[USER_CATEGORY_AFFINITY]] = np.minimum(affinity, 1.0)
        out[:, _POSITION[ITEM_IN_TOP_CATEGORY]] = in_top.astype(np.float64)
        return pd.DataFrame(out, columns=list(RANKER_FEATURES))


def _user_row(user_features: pd.DataFrame | None, user_id: int) -> pd.Series | None:
    if user_features is None or not len(user_features):
        return None
    frame = user_features
    if USER_ID in frame.columns:
        frame = frame.set_index(USER_ID)
    frame = frame[~frame.index.duplicated(keep="last")]
    if user_id not in frame.index:
        return None
    return frame.loc[user_id]


def _user_number(user: pd.Series | None, name: str) -> float:
    """As ``ranker_feature_frame`` reads a user number: coerced, else the default."""
    if user is None or name not in user.index:
        return DEFAULT_FEATURES[name]
    value = user[name]
    if not isinstance(value, (int, float, np.integer, np.floating)):  # str, None, ...: coerce
        value = pd.to_numeric(pd.Series([value], dtype=object), errors="coerce").iloc[0]
    return DEFAULT_FEATURES[name] if pd.isna(value) else float(value)


def _user_text(user: pd.Series | None, name: str) -> str:
    if user is None or name not in user.index:
        return ""
    value = user[name]
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def held_availability(items: pd.DataFrame, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the store knows it, the store says available) per id, as ``online_availability`` reads
    the rows (``items`` indexed by id, aligned with ``ids``)."""
    if ITEM_AVAILABLE not in items or not len(items):
        return np.zeros(len(ids), dtype=bool), np.ones(len(ids), dtype=bool)
    rows = items.reindex(pd.Index(ids, dtype="int64"))
    values = pd.to_numeric(rows[ITEM_AVAILABLE], errors="coerce")
    found = values.notna().to_numpy()
    if FOUND in rows:
        found &= found_flags(rows)
    return found, values.fillna(1).to_numpy() > 0
