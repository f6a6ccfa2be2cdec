"""The ranker's candidates, training data and two-stage evaluation, with a fake two-tower (items
and users on a circle: a user's nearest items are the ones at their angle) and a plain feature
lookup in place of Feast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from components.data.columns import EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID
from components.evaluation.lists import reranked_lists
from components.features.columns import COVISIT_SCORE
from components.features.ranking import (
    RANKER_FEATURES,
    RETRIEVAL_RANK,
    RETRIEVAL_SCORE,
    ranker_feature_frame,
)
from components.ranker.candidates import (
    EVALUATION_DEPTH,
    RERANKED,
    VALIDATION_FOLDS,
    candidate_features,
    evaluate_two_stage,
    feature_cutoffs,
    fit_ranker,
    retrieve_candidates,
    validation_folds,
)

N_ITEMS = 40
T0 = pd.Timestamp("2026-01-01", tz="UTC")


class CircleTower:
    """Item i sits at angle 2*pi*i/N_ITEMS; user u looks at angle 2*pi*(u % N_ITEMS)/N_ITEMS."""

    history_length = 5
    embedding_dim = 2

    def item_embeddings(self, ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        ids = np.arange(N_ITEMS, dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
        return ids, self._at(ids)

    def user_embeddings(self, users: list[int], histories: list[list[int]]) -> np.ndarray:
        return self._at(np.asarray(users, np.int64) % N_ITEMS)

    @staticmethod
    def _at(positions: np.ndarray) -> np.ndarray:
        angle = 2 * np.pi * positions / N_ITEMS
        return np.stack([np.cos(angle), np.sin(angle)], axis=1).astype(np.float32)


def events(rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    """(user, item, day) rows -> interactions."""
    users, items, days = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            USER_ID: np.asarray(users, np.int64),
            ITEM_ID: np.asarray(items, np.int64),
            EVENT_TYPE: "view",
            TIMESTAMP: T0 + pd.to_timedelta(np.asarray(days), unit="D"),
        }
    )


def windows(n_users: int = 40) -> tuple[pd.DataFrame, pd.DataFrame]:
    """fit: each user saw their own item (days 0-1); label: the two items next to it (day 5+)."""
    fit = events([(u, u % N_ITEMS, u % 2) for u in range(n_users)])
    label = events([(u, (u + d) % N_ITEMS, 5 + u % 3) for u in range(n_users) for d in (1, -1)])
    return fit, label


def lookup_recording(seen: list[pd.DataFrame]):
    def lookup(entity: pd.DataFrame) -> pd.DataFrame:
        seen.append(entity)
        return ranker_feature_frame(None, None, entity)  # every other feature at its default

    return lookup


def test_candidates_are_the_nearest_unseen_items_best_first() -> None:
    history = events([(3, 3, 0)])
    candidates = retrieve_candidates(CircleTower(), history, [3], k=4)
    assert list(candidates.columns) == [
        USER_ID,
        ITEM_ID,
        RETRIEVAL_SCORE,
        RETRIEVAL_RANK,
        COVISIT_SCORE,
    ]
    assert candidates[COVISIT_SCORE].tolist() == [0.0] * 4  # no co-visitation table given
    assert candidates[RETRIEVAL_RANK].tolist() == [0, 1, 2, 3]
    assert 3 not in set(candidates[ITEM_ID])  # seen items are excluded
    assert set(candidates[ITEM_ID].head(2)) == {2, 4}
    assert candidates[RETRIEVAL_SCORE].is_monotonic_decreasing


def test_candidates_carry_their_co_visitation_with_the_users_recent_items() -> None:
    # user 3's history: item 5 (older), then item 3 (most recent)
    history = events([(3, 5, 0), (3, 3, 1)])
    table = pd.DataFrame({ITEM_ID: [3, 3, 5], "neighbour_id": [2, 4, 4], "score": [2.0, 1.0, 3.0]})
    candidates = retrieve_candidates(CircleTower(), history, [3], k=4, covisitation=table)
    by_item = dict(zip(candidates[ITEM_ID], candidates[COVISIT_SCORE], strict=True))
    # item 2: 2.0 from item 3 (position 0); item 4: 1.0 / 1 + 3.0 / 2 from item 5 (position 1)
    assert by_item[2] == pytest.approx(2.0)
    assert by_item[4] == pytest.approx(2.5)
    assert all(by_item[i] == 0.0 for i in by_item if i not in (2, 4))


def test_features_are_taken_just_before_each_users_first_label_event() -> None:
    _, label = windows(4)
    cutoffs = feature_cutoffs(label)
    first = label.groupby(USER_ID)[TIMESTAMP].min()
    assert ((first - cutoffs) == pd.Timedelta(1, "ns")).all()

    seen: list[pd.DataFrame] = []
    candidates = retrieve_candidates(CircleTower(), label, [0, 1], k=3)
    candidate_features(candidates, cutoffs, lookup_recording(seen))
    (entity,) = seen
    assert (entity["event_timestamp"].to_numpy() == candidates[USER_ID].map(cutoffs)).all()


def test_the_ranker_learns_on_the_label_windows_candidates() -> None:
    fit, label = windows()
    seen: list[pd.DataFrame] = []
    ranker, stats = fit_ranker(CircleTower(), fit, label, 4, lookup_recording(seen))
    assert ranker.feature_names == list(RANKER_FEATURES)
    (entity,) = seen
    assert set(entity[USER_ID]) == set(label[USER_ID])
    assert (entity.groupby(USER_ID).size() == 4).all()
    # the two label items are each user's two nearest unseen items: all are candidates
    assert stats["candidate_recall"] == pytest.approx(1.0)
    assert stats["train_rows"] > 0


def test_two_stage_evaluation_scores_both_systems_on_one_split() -> None:
    train, test = windows()
    ranker, _ = fit_ranker(CircleTower(), train, test, 4, lookup_recording([]))
    figures, top, lists = evaluate_two_stage(
        CircleTower(), ranker, train, test, N_ITEMS, candidate_k=1, lookup=lookup_recording([])
    )
    assert {"two_tower", "two_tower_ranker"} <= set(figures) and set(lists) == {
        "two_tower",
        "two_tower_ranker",
    }
    assert figures["two_tower"]["recall@10"] == pytest.approx(1.0)
    assert 0 < figures["two_tower_ranker"]["recall@100"] <= 1
    # at least EVALUATION_DEPTH deep whatever candidate_k: here the whole unseen catalog
    per_user = top.groupby(USER_ID).size()
    assert (per_user == min(EVALUATION_DEPTH, N_ITEMS - 1)).all()
    assert top.groupby(USER_ID)["rank"].min().eq(1).all()


def lookup_knowing(relevant: set[tuple[int, int]], feature: str):
    """Features at their defaults except ``feature``: 1 for the (user, item) pairs in
    ``relevant``, a signal the tower lacks."""

    def lookup(entity: pd.DataFrame) -> pd.DataFrame:
        frame = ranker_feature_frame(None, None, entity)
        pairs = zip(entity[USER_ID], entity[ITEM_ID], strict=True)
        frame[feature] = [float((int(u), int(i)) in relevant) for u, i in pairs]
        return frame

    return lookup


def test_a_ranker_no_better_than_retrieval_on_validation_is_disabled_and_not_served() -> None:
    fit, label = windows()  # retrieval alone is perfect here: a ranker can at best tie
    ranker, stats = fit_ranker(CircleTower(), fit, label, 6, lookup_recording([]), seed=1)
    assert not ranker.enabled and stats["ranker_enabled"] == 0.0
    assert stats["validation_ndcg_ranker"] <= stats["validation_ndcg_retrieval"]
    # every label user judges it, each ranked by a fold ranker that never learnt from them
    assert stats["validation_users"] == label[USER_ID].nunique() == 40
    assert stats["validation_folds"] == VALIDATION_FOLDS
    figures, _, lists = evaluate_two_stage(
        CircleTower(), ranker, fit, label, N_ITEMS, 6, lookup_recording([])
    )
    assert lists["two_tower_ranker"] == lists["two_tower"]  # what is served: retrieval order
    assert figures["two_tower_ranker"] == figures["two_tower"]
    assert "ranker_scored" in figures  # the ranker's own figures stay on record


def test_a_ranker_with_signal_the_tower_lacks_beats_retrieval_and_is_enabled() -> None:
    # label items 3 steps from each user's own item: retrieval ranks them 5th and 6th
    fit = events([(u, u % N_ITEMS, 0) for u in range(N_ITEMS)])
    label = events([(u, (u + d) % N_ITEMS, 5) for u in range(N_ITEMS) for d in (3, -3)])
    relevant = set(zip(label[USER_ID].tolist(), label[ITEM_ID].tolist(), strict=True))
    feature = next(f for f in RANKER_FEATURES if f not in (RETRIEVAL_SCORE, RETRIEVAL_RANK))
    ranker, stats = fit_ranker(
        CircleTower(), fit, label, 8, lookup_knowing(relevant, feature), seed=1
    )
    assert stats["validation_ndcg_ranker"] > stats["validation_ndcg_retrieval"]
    assert ranker.enabled
    # what a user sees: the served scores through the rules (nothing seen) and MMR
    given: dict = {}

    def rerank(scored):
        given.update(scored)
        return reranked_lists(scored, None, {}, {}, k=5, category_cap=None)

    figures, _, lists = evaluate_two_stage(
        CircleTower(), ranker, fit, label, N_ITEMS, 8, lookup_knowing(relevant, feature), rerank
    )
    assert set(given) == set(label[USER_ID].unique())
    assert {u: found[:5] for u, found in lists["two_tower_ranker"].items()} == lists[RERANKED]
    assert figures[RERANKED]["recall@10"] == figures["two_tower_ranker"]["recall@10"] > 0.9
    ids, scores = given[0]
    assert (np.diff(scores) <= 0).all()  # the ranker's scores, best first


def test_validation_folds_are_even_seeded_and_follow_the_given_order_only():
    users = [41, 7, 300, 12, 5, 99, 64, 8, 23]
    folds = validation_folds(users, 4, seed=3)
    assert sorted(np.bincount(list(folds.values())).tolist()) == [2, 2, 2, 3]
    assert folds == validation_folds(users, 4, seed=3)
    assert folds != validation_folds(users, 4, seed=4)
    # other ids in the same order (another id key) get the same folds position by position
    other = [u * 1000 + 1 for u in users]
    assert list(validation_folds(other, 4, seed=3).values()) == list(folds.values())
    assert set(validation_folds([1, 2], 4, seed=0).values()) == {0, 1}
