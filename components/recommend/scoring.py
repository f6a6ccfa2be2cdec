"""Ranker scoring of a candidate pool, through the feature code training used.

``ranker_feature_frame`` (components.features.ranking) turns online feature rows into the model
matrix exactly as it turns the point-in-time join into the training matrix, so the only
difference between training and serving is where the raw rows come from.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from components.data.columns import ITEM_ID, USER_ID
from components.features.columns import (
    COVISIT_SCORE,
    ITEM_AVAILABLE,
    RETRIEVAL_RANK,
    RETRIEVAL_SCORE,
)
from components.features.ranking import ranker_feature_frame
from components.features.store import FOUND
from components.recommend.candidates import CandidatePool


class Scorer(Protocol):
    def score(self, features: pd.DataFrame) -> np.ndarray: ...


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
) -> np.ndarray:
    """Ranker scores (higher = better). Without a ranker: the retrieval order as a score."""
    if not len(pool):
        return np.zeros(0, dtype=np.float64)
    if ranker is None:
        return -pool.retrieval_ranks.astype(np.float64)
    matrix = ranker_matrix(pool, user_features, item_features)
    return np.asarray(ranker.score(matrix), dtype=np.float64).reshape(-1)


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
        found &= rows[FOUND].astype("boolean").fillna(False).to_numpy(dtype=bool)
    online = values.fillna(1).to_numpy() > 0
    return np.where(found, available & online, available)
