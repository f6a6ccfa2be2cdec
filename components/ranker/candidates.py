"""The ranker's candidates: the two-tower's top-k per user, with features as of a cutoff.

Training and evaluation rank the same thing serving ranks: what the two-tower retrieves from
the full catalog (seen items excluded), with each user's features as they were just before the
window being predicted. Features come through a ``FeatureLookup`` (Feast's point-in-time join in
the pipeline, a plain function in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from components.data.columns import ITEM_ID, TIMESTAMP, USER_ID
from components.evaluation.evaluate import evaluate_recommendations, relevance_weights, seen_items
from components.features.ranking import RANKER_FEATURES, RETRIEVAL_RANK, RETRIEVAL_SCORE
from components.ranker.model import Ranker, item_lists, label_candidates, top_scored, train_ranker
from components.two_tower.export import TwoTowerRetrieval
from components.two_tower.history import recent_positive_items
from components.two_tower.recommend import recommend_two_tower

FeatureLookup = Callable[[pd.DataFrame], pd.DataFrame]
"""Entity rows (user_id, item_id, ..., event_timestamp) -> the ranker feature frame, one row
each, with features as of each row's event_timestamp."""

EVALUATION_DEPTH = 100  # evaluation retrieves and ranks at least this deep (Recall@100)


def retrieve_candidates(
    retrieval: TwoTowerRetrieval, history: pd.DataFrame, users: Sequence[int], k: int
) -> pd.DataFrame:
    """Top-k two-tower candidates (full catalog, items in ``history`` excluded) as a long frame:
    user_id, item_id, retrieval_score, retrieval_rank (0 = best)."""
    histories = recent_positive_items(history, retrieval.history_length)
    items, scores = recommend_two_tower(
        retrieval, users, histories, k=k, exclude=seen_items(history)
    )
    rows = [
        (user, item, score, rank)
        for user in users
        for rank, (item, score) in enumerate(zip(items[user], scores[user], strict=True))
    ]
    return pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, RETRIEVAL_SCORE, RETRIEVAL_RANK])


def feature_cutoffs(window: pd.DataFrame) -> pd.Series:
    """Just before each user's first event in a window: features must not include that event."""
    return window.groupby(USER_ID)[TIMESTAMP].min() - pd.Timedelta(1, "ns")


def candidate_features(
    candidates: pd.DataFrame, cutoffs: pd.Series, lookup: FeatureLookup
) -> pd.DataFrame:
    """The ranker matrix for candidates, each user's features as of their cutoff."""
    entity = candidates.copy()
    entity["event_timestamp"] = candidates[USER_ID].map(cutoffs).to_numpy()
    return lookup(entity)


def fit_ranker(
    retrieval: TwoTowerRetrieval,
    fit: pd.DataFrame,
    label: pd.DataFrame,
    candidate_k: int,
    lookup: FeatureLookup,
    feature_names: Sequence[str] = RANKER_FEATURES,
) -> tuple[Ranker, dict[str, float]]:
    """Train the ranker on the two-tower's candidates for the label window's users, retrieved
    from their ``fit`` history and labelled by what they did in ``label``. The stats include
    ``candidate_recall``: the share of label events the candidates contain (the ranker's ceiling).
    """
    users = sorted(label[USER_ID].unique().tolist())
    candidates = retrieve_candidates(retrieval, fit, users, candidate_k)
    features = candidate_features(candidates, feature_cutoffs(label), lookup)
    labels = label_candidates(candidates, relevance_weights(label))
    ranker, stats = train_ranker(features, labels, candidates[USER_ID], list(feature_names))
    stats["candidate_recall"] = float((labels > 0).sum() / max(len(label), 1))
    return ranker, stats


def evaluate_two_stage(
    retrieval: TwoTowerRetrieval,
    ranker: Ranker,
    train: pd.DataFrame,
    test: pd.DataFrame,
    catalog_size: int,
    candidate_k: int,
    lookup: FeatureLookup,
) -> tuple[dict[str, dict[str, float]], pd.DataFrame]:
    """Two-tower alone and two-tower + ranker on one split, through one evaluator: figures per
    system ("two_tower", "two_tower_ranker"), and the ranker's top scored candidates per user."""
    users = sorted(test[USER_ID].unique().tolist())
    candidates = retrieve_candidates(retrieval, train, users, max(candidate_k, EVALUATION_DEPTH))
    retrieved = {
        int(u): g.sort_values(RETRIEVAL_RANK)[ITEM_ID].tolist()
        for u, g in candidates.groupby(USER_ID)
    }
    features = candidate_features(candidates, feature_cutoffs(test), lookup)
    top = top_scored(ranker, candidates, features, k=EVALUATION_DEPTH)
    figures = {
        "two_tower": evaluate_recommendations(retrieved, test, catalog_size),
        "two_tower_ranker": evaluate_recommendations(item_lists(top), test, catalog_size),
    }
    return figures, top
