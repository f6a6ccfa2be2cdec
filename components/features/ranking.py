"""The ranker's model matrix: the one place raw feature rows become numbers.

Training and serving both call ``ranker_feature_frame``, so a feature cannot be computed two ways:

- serving: ``ranker_feature_frame(users, items, pairs)`` with the frames from
  ``store.online_features`` (indexed by id) and the retrieval candidates as ``pairs``;
- training: ``ranker_feature_frame(None, None, joined)`` where ``joined`` is the output of
  ``store.historical_features`` (feature columns already point-in-time joined onto each pair);
- degraded serving (online store unreachable): pass empty frames; every feature falls back to
  ``DEFAULT_FEATURES`` and the ranker still orders by retrieval score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.data.columns import CATEGORY_SEPARATOR, ITEM_ID, USER_ID
from components.features.columns import (
    COVISIT_SCORE,
    FEATURES,
    ITEM_CATEGORIES,
    ITEM_ENTITY,
    ITEM_IN_TOP_CATEGORY,
    ITEM_N_CATEGORIES,
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

# The matrix's columns and their defaults, in declaration order (see components.features.columns).
_COLUMNS = tuple(f for f in FEATURES if f.ranker is Ranker.COLUMN)
RANKER_FEATURES: tuple[str, ...] = tuple(f.name for f in _COLUMNS)
DEFAULT_FEATURES: dict[str, float] = {f.name: float(f.default) for f in _COLUMNS}
# Stored numbers that become columns as they are.
_ITEM_NUMERIC = tuple(
    f.name for f in _COLUMNS if f.entity == ITEM_ENTITY and f.source is Source.SNAPSHOT
)
_USER_NUMERIC = tuple(
    f.name for f in _COLUMNS if f.entity == USER_ENTITY and f.source is Source.SNAPSHOT
)


def _rows(features: pd.DataFrame | None, key: str, ids: np.ndarray, pairs: pd.DataFrame):
    """Feature rows aligned with ``pairs`` (positionally): looked up by id, or pairs themselves."""
    if features is None:
        return pairs.reset_index(drop=True)
    if key in features.columns:
        features = features.set_index(key)
    features = features[~features.index.duplicated(keep="last")]
    return features.reindex(pd.Index(ids, dtype="int64")).reset_index(drop=True)


def _numeric(rows: pd.DataFrame, name: str) -> np.ndarray:
    if name not in rows:
        return np.full(len(rows), DEFAULT_FEATURES[name], dtype=np.float64)
    values = pd.to_numeric(rows[name], errors="coerce").astype(np.float64)
    return values.fillna(DEFAULT_FEATURES[name]).to_numpy()


def _strings(rows: pd.DataFrame, name: str) -> pd.Series:
    if name not in rows:
        return pd.Series([""] * len(rows), dtype=object)
    return rows[name].fillna("").astype(str).reset_index(drop=True)


def _category_features(
    shares: pd.Series, top: pd.Series, item_categories: pd.Series
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(affinity, in-top-category, number of categories) per pair, without a Python loop."""
    n = len(item_categories)
    cats = item_categories.str.split(CATEGORY_SEPARATOR, regex=False).explode()
    cats = cats[cats.str.len() > 0]
    pos = cats.index.to_numpy(dtype=np.int64)
    n_categories = np.bincount(pos, minlength=n).astype(np.float64)
    pair_cats = pd.DataFrame(
        {
            "pos": pos,
            "category": cats.to_numpy(dtype=object),
            "shares": shares.to_numpy(dtype=object)[pos],
        }
    )

    # Each distinct distribution string parsed once ("Action:0.4000|Comedy:0.2000").
    distinct = pd.Series(shares.unique(), dtype=object)
    entries = distinct.str.split(CATEGORY_SEPARATOR, regex=False).explode()
    entries = entries[entries.str.len() > 0]
    name_share = entries.str.rpartition(SHARE_SEPARATOR).reindex(columns=[0, 1, 2])
    parsed = pd.DataFrame(
        {
            "shares": distinct.to_numpy(dtype=object)[entries.index.to_numpy(dtype=np.int64)],
            "category": name_share[0].to_numpy(dtype=object),
            "share": pd.to_numeric(name_share[2], errors="coerce").fillna(0.0).to_numpy(),
        }
    )
    matched = pair_cats.merge(parsed, on=["shares", "category"], how="inner")
    affinity = np.bincount(
        matched["pos"].to_numpy(dtype=np.int64),
        weights=matched["share"].to_numpy(dtype=np.float64),
        minlength=n,
    )

    top_first = top.str.split(CATEGORY_SEPARATOR, regex=False).str[0].fillna("").to_numpy()
    in_top = np.zeros(n)
    hits = pair_cats["category"].to_numpy() == top_first[pos]
    in_top[pos[hits]] = 1.0
    return np.minimum(affinity, 1.0), in_top, n_categories


def ranker_feature_frame(
    user_feats: pd.DataFrame | None,
    item_feats: pd.DataFrame | None,
    pairs: pd.DataFrame,
) -> pd.DataFrame:
    """The ranker's matrix for (user_id, item_id[, retrieval_score, retrieval_rank,
    covisit_score]) pairs.

    ``user_feats`` / ``item_feats``: raw feature rows keyed by id (index or id column); unknown
    ids get ``DEFAULT_FEATURES``. ``None`` means the feature columns are already on ``pairs``
    (the point-in-time join of training). Returns float64 columns ``RANKER_FEATURES``, in that
    order, on ``pairs``' index. A missing ``retrieval_rank`` is derived from the score per user.
    """
    user_ids = pairs[USER_ID].to_numpy(dtype=np.int64)
    item_ids = pairs[ITEM_ID].to_numpy(dtype=np.int64)
    users = _rows(user_feats, USER_ID, user_ids, pairs)
    items = _rows(item_feats, ITEM_ID, item_ids, pairs)

    flat = pairs.reset_index(drop=True)
    columns: dict[str, np.ndarray] = {RETRIEVAL_SCORE: _numeric(flat, RETRIEVAL_SCORE)}
    if RETRIEVAL_RANK in pairs:
        columns[RETRIEVAL_RANK] = _numeric(flat, RETRIEVAL_RANK)
    else:
        by_score = pd.Series(-columns[RETRIEVAL_SCORE]).groupby(user_ids).rank(method="first")
        columns[RETRIEVAL_RANK] = by_score.to_numpy() - 1.0
    columns[COVISIT_SCORE] = _numeric(flat, COVISIT_SCORE)
    for name in _ITEM_NUMERIC:
        columns[name] = _numeric(items, name)
    affinity, in_top, n_categories = _category_features(
        _strings(users, USER_CATEGORY_SHARES),
        _strings(users, USER_TOP_CATEGORIES),
        _strings(items, ITEM_CATEGORIES),
    )
    columns[ITEM_N_CATEGORIES] = n_categories
    for name in _USER_NUMERIC:
        columns[name] = _numeric(users, name)
    columns[USER_CATEGORY_AFFINITY] = affinity
    columns[ITEM_IN_TOP_CATEGORY] = in_top
    # One frame built at once, in model order (column-by-column inserts cost more than the math).
    return pd.DataFrame(
        {name: np.asarray(columns[name], dtype=np.float64) for name in RANKER_FEATURES},
        index=pairs.index,
    )
