"""The ranker's candidates: the two-tower's top-k per user, with features as of a cutoff.

Training and evaluation rank the same thing serving ranks: what the two-tower retrieves from
the full catalog (seen items excluded), with each user's features as they were just before the
window being predicted. Features come through a ``FeatureLookup`` (Feast's point-in-time join in
the pipeline, a plain function in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from components.data.columns import ITEM_ID, TIMESTAMP, USER_ID
from components.data.events import EventTable
from components.data.order import ordered_users
from components.evaluation.evaluate import (
    evaluate_recommendations,
    relevance_weights,
    relevant_items,
    seen_items,
)
from components.evaluation.metrics import metric_key, paired_gain
from components.features.columns import COVISIT_SCORE
from components.features.covisitation import covisitation_scores, neighbour_index
from components.features.ranking import RANKER_FEATURES, RETRIEVAL_RANK, RETRIEVAL_SCORE
from components.ranker.actions import action_weights, pair_actions
from components.ranker.model import (
    Ranker,
    item_lists,
    label_candidates,
    top_scored,
    train_ranker,
)
from components.two_tower.export import TwoTowerRetrieval
from components.two_tower.history import recent_positive_items
from components.two_tower.recommend import recommend_two_tower

FeatureLookup = Callable[[pd.DataFrame], pd.DataFrame]
"""Entity rows (user_id, item_id, ..., event_timestamp) -> the ranker feature frame, one row
each, with features as of each row's event_timestamp."""

EVALUATION_DEPTH = 100  # evaluation retrieves and ranks at least this deep (Recall@100)
CURVE_DEPTH = 200  # ... and lists this deep for the report's Recall@K curve
# The label window's users are cut into this many folds; each fold's users are ranked by a
# ranker trained on the other folds, so every label user judges the ranker (out of fold).
VALIDATION_FOLDS = 4
GATE_K = 10
GATE_METRIC = metric_key("ndcg", GATE_K)  # what the ranker must improve over retrieval order
RERANKED = "two_tower_ranker_reranked"  # the served order after business rules and MMR
# user -> (candidate ids, scores) -> user -> the list shown (``evaluation.lists.reranked_lists``)
Rerank = Callable[[Mapping[int, tuple[np.ndarray, np.ndarray]]], dict[int, list[int]]]
# How many standard errors the ranker's mean per-user NDCG@10 gain over retrieval must exceed
# on the validation users (one-sided 95%): a gain inside the noise does not switch it on.
GATE_Z = 1.645
# Training cost (chosen on validation, docs/quality.md): the share of no-action candidate rows
# each training keeps (weighted back, so the heads stay calibrated); all of them here.
NEGATIVE_SHARE = 1.0


def retrieve_candidates(
    retrieval: TwoTowerRetrieval,
    history: pd.DataFrame,
    users: Sequence[int],
    k: int,
    covisitation: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Top-k two-tower candidates (full catalog, items in ``history`` excluded) as a long frame:
    user_id, item_id, retrieval_score, retrieval_rank (0 = best), covisit_score (from the
    ``covisitation`` table built from ``history``'s data, as serving's is; 0 without one)."""
    histories = recent_positive_items(history, retrieval.history_length)
    items, scores = recommend_two_tower(
        retrieval, users, histories, k=k, exclude=seen_items(history)
    )
    rows = [
        (user, item, score, rank)
        for user in users
        for rank, (item, score) in enumerate(zip(items[user], scores[user], strict=True))
    ]
    frame = pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, RETRIEVAL_SCORE, RETRIEVAL_RANK])
    index = neighbour_index(covisitation)
    frame[COVISIT_SCORE] = np.concatenate(
        [np.zeros(0)]
        + [
            covisitation_scores(index, histories.get(user, []), items[user])
            for user in users
            if items[user]
        ]
    )
    return frame


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


def validation_folds(users: Sequence[int], folds: int, seed: int) -> dict[int, int]:
    """User -> fold (0..folds-1), seeded, as even as can be; ``users`` in ``data.order``'s
    content order, so the draw does not depend on the id key. Fewer users than folds: one
    fold each."""
    n = len(users)
    if folds < 2:
        raise ValueError(f"need at least 2 folds, got {folds}")
    shuffled = np.random.default_rng(seed).permutation(n)
    fold_of = np.empty(n, np.int64)
    fold_of[shuffled] = np.arange(n) % min(folds, max(n, 1))
    return {int(u): int(f) for u, f in zip(users, fold_of, strict=True)}


def retrieval_lists(candidates: pd.DataFrame) -> dict[int, list[int]]:
    """User -> candidate item ids in retrieval order."""
    return {
        int(u): g.sort_values(RETRIEVAL_RANK)[ITEM_ID].tolist()
        for u, g in candidates.groupby(USER_ID)
    }


def fit_ranker(
    retrieval: TwoTowerRetrieval,
    fit: pd.DataFrame,
    label: pd.DataFrame,
    candidate_k: int,
    lookup: FeatureLookup,
    feature_names: Sequence[str] = RANKER_FEATURES,
    *,
    seed: int = 0,
    folds: int = VALIDATION_FOLDS,
    table: EventTable | None = None,
    covisitation: pd.DataFrame | None = None,
    negative_share: float = NEGATIVE_SHARE,
    params: dict[str, object] | None = None,
) -> tuple[Ranker, dict[str, float]]:
    """Train the ranker on the two-tower's candidates for the label window's users, retrieved
    from their ``fit`` history and labelled by what they did in ``label``; then judge it.

    Judged out of fold on every label user: the users are cut into ``folds`` seeded folds and
    each fold is ranked by a ranker trained on the others, so every user's validation list
    comes from a ranker that never learnt from them (four times the evidence of one held-out
    quarter). The ranker is ``enabled`` only when its mean per-user gain over retrieval order
    on ``GATE_METRIC`` exceeds ``GATE_Z`` standard errors (else retrieval order serves); the
    ranker returned is the same training on all label users. The heads predict the actions of
    ``table`` (default: the settings' event table) and the gate judges their combined score.
    The stats include ``candidate_recall`` (the share of positive label pairs among the
    candidates: the ranker's ceiling), one line per head and both validation figures.
    ``covisitation``: the serving tables' co-visitation built from ``fit`` (the
    ``covisit_score`` feature; None = 0).
    """
    users = ordered_users(label)  # by their events: the folds do not depend on the id key
    candidates = retrieve_candidates(retrieval, fit, users, candidate_k, covisitation)
    features = candidate_features(candidates, feature_cutoffs(label), lookup)
    weights = action_weights(table)
    labels = label_candidates(candidates, pair_actions(label, table), list(weights))

    def train(rows: np.ndarray) -> tuple[Ranker, dict[str, float]]:
        return train_ranker(
            features[rows],
            labels[rows],
            candidates.loc[rows, USER_ID],
            list(feature_names),
            weights=weights,
            seed=seed,
            negative_share=negative_share,
            params=params,
        )

    ranker, stats = train(np.ones(len(candidates), bool))
    positive = [a for a, w in weights.items() if w > 0]
    found = int(labels[positive].max(axis=1).gt(0).sum())
    pairs = sum(len(items) for items in relevance_weights(label, table).values())
    stats["candidate_recall"] = float(found / max(pairs, 1))
    fold_of = candidates[USER_ID].map(validation_folds(users, folds, seed)).to_numpy()
    judged = [f for f in range(folds) if (fold_of == f).any() and (fold_of != f).any()]
    if judged:
        out_of_fold = []
        for f in judged:
            held = fold_of == f
            fold_ranker, _ = train(~held)
            out_of_fold.append(
                top_scored(fold_ranker, candidates[held], features[held], k=EVALUATION_DEPTH)
            )
        in_judged = np.isin(fold_of, judged)
        judged_users = set(candidates.loc[in_judged, USER_ID].tolist())
        valid_label = label[label[USER_ID].isin(judged_users)]
        catalog = int(candidates[ITEM_ID].nunique())
        ranked = item_lists(pd.concat(out_of_fold, ignore_index=True))
        retrieved = retrieval_lists(candidates[in_judged])
        by_retrieval = evaluate_recommendations(retrieved, valid_label, catalog)
        by_ranker = evaluate_recommendations(ranked, valid_label, catalog)
        gain, stderr = paired_gain(retrieved, ranked, relevant_items(valid_label, table), k=GATE_K)
        ranker.validation = {
            "validation_users": float(len(judged_users)),
            "validation_folds": float(len(judged)),
            "validation_ndcg_retrieval": by_retrieval[GATE_METRIC],
            "validation_ndcg_ranker": by_ranker[GATE_METRIC],
            "validation_ndcg_gain": gain,
            "validation_ndcg_gain_stderr": stderr,
            "validation_recall_100_retrieval": by_retrieval["recall@100"],
            "validation_recall_100_ranker": by_ranker["recall@100"],
        }
        ranker.enabled = gain > 0 and gain > GATE_Z * stderr
    stats.update(ranker.validation)
    stats["ranker_enabled"] = float(ranker.enabled)
    return ranker, stats


def evaluate_two_stage(
    retrieval: TwoTowerRetrieval,
    ranker: Ranker,
    train: pd.DataFrame,
    test: pd.DataFrame,
    catalog_size: int,
    candidate_k: int,
    lookup: FeatureLookup,
    rerank: Rerank | None = None,
    covisitation: pd.DataFrame | None = None,
) -> tuple[dict[str, dict[str, float]], pd.DataFrame, dict[str, dict[int, list[int]]]]:
    """Two-tower alone and two-tower + ranker on one split, through one evaluator: figures per
    system ("two_tower", "two_tower_ranker"), the ranker's top scored candidates per user (the
    drift reference), and each system's lists (``CURVE_DEPTH`` deep where retrieval is).

    "two_tower_ranker" is what serving serves: the ranker's order when the ranker is enabled,
    the retrieval order when validation disabled it ("ranker_scored" keeps the ranker's own
    figures either way, for the record). With ``rerank``, ``RERANKED`` is what a user sees:
    the served scores (the ranker's, or minus the retrieval rank) through the business rules
    and MMR, ``EVALUATION_DEPTH`` deep.
    ``covisitation``: built from ``train``."""
    users = ordered_users(test)
    depth = max(candidate_k, EVALUATION_DEPTH, CURVE_DEPTH)
    candidates = retrieve_candidates(retrieval, train, users, depth, covisitation)
    retrieved = retrieval_lists(candidates)
    features = candidate_features(candidates, feature_cutoffs(test), lookup)
    scored = top_scored(ranker, candidates, features, k=depth)
    ranked = item_lists(scored)
    served = ranked if ranker.enabled else retrieved
    lists = {"two_tower": retrieved, "two_tower_ranker": served}
    if rerank is not None:
        by_user = (
            scored
            if ranker.enabled
            else candidates.assign(score=-candidates[RETRIEVAL_RANK].astype(np.float64))
        )
        lists[RERANKED] = rerank(
            {
                int(u): (g[ITEM_ID].to_numpy(np.int64), g["score"].to_numpy(np.float64))
                for u, g in by_user.groupby(USER_ID, sort=False)
            }
        )
    figures = {
        name: evaluate_recommendations(found, test, catalog_size) for name, found in lists.items()
    }
    if not ranker.enabled:
        figures["ranker_scored"] = evaluate_recommendations(ranked, test, catalog_size)
    top = scored[scored["rank"] <= EVALUATION_DEPTH].reset_index(drop=True)
    return figures, top, lists
