import numpy as np
import pandas as pd

from components.data.columns import ITEM_ID, USER_ID
from components.features.columns import COVISIT_SCORE, ITEM_AVAILABLE, ITEM_EVENTS_30D
from components.features.covisitation import covisitation_scores, neighbour_index
from components.features.ranking import DEFAULT_FEATURES, RANKER_FEATURES
from components.features.store import FOUND
from components.recommend.candidates import FALLBACK_RANKER, Query, retrieve_candidates
from components.recommend.results import finalize
from components.recommend.scoring import online_availability, ranker_matrix, score_candidates
from components.recommend.sources import CandidateSources
from components.recommend.tables import build_serving_tables


class Popularity30d:
    """A 'ranker' that scores by one feature, to see features reach it."""

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        assert list(frame.columns) == list(RANKER_FEATURES)
        return frame[ITEM_EVENTS_30D].to_numpy()


def _pool(interactions, items, **query):
    sources = CandidateSources.from_tables(build_serving_tables(interactions, items))
    return retrieve_candidates(
        Query(user_id=9, **query),
        sources,
        history=[],
        seen=[],
        user_vector=None,
        embed_items=None,
        search=None,
    )


def test_ranker_sees_online_features_and_defaults_for_unknown_ids(interactions, items):
    pool = _pool(interactions, items, k=3)
    item_frame = pd.DataFrame(
        {ITEM_EVENTS_30D: [50, 40], ITEM_AVAILABLE: [1, 0], FOUND: [True, True]},
        index=pd.Index([int(pool.item_ids[-1]), int(pool.item_ids[0])], name=ITEM_ID),
    )
    user_frame = pd.DataFrame({FOUND: [False]}, index=pd.Index([9], name=USER_ID))
    scores, actions = score_candidates(pool, Popularity30d(), user_frame, item_frame)
    assert actions is None  # a scorer without heads names no action
    assert scores[-1] == 50 and scores[0] == 40
    assert (scores[1:-1] == DEFAULT_FEATURES[ITEM_EVENTS_30D]).all()
    matrix = ranker_matrix(pool, None, None)  # store down: every feature at its default
    assert np.allclose(matrix[ITEM_EVENTS_30D], DEFAULT_FEATURES[ITEM_EVENTS_30D])
    available = online_availability(pool, item_frame)
    assert not available[0] and available[-1] == pool.available[-1]


def test_finalize_returns_k_eligible_items_with_reasons(interactions, items):
    pool = _pool(interactions, items, k=4, categories=("B",))
    pool.scores = np.linspace(1, 0, len(pool))
    result = finalize(pool, Query(user_id=9, k=4, categories=("B",)), 1.0, None)
    assert [i.item_id for i in result.items] == pool.item_ids[:4].tolist()
    assert all(i.reason == "popular in B" for i in result.items)
    assert not result.degraded and "Reranking" in result.timings


def test_finalize_without_ranker_scores_uses_retrieval_order_and_degrades(interactions, items):
    pool = _pool(interactions, items, k=2)
    result = finalize(pool, Query(user_id=9, k=2, exclude=(1,)), 1.0, None)
    assert result.fallbacks == [FALLBACK_RANKER]
    assert [i.item_id for i in result.items] == [i for i in pool.item_ids.tolist() if i != 1][:2]
    # Retrieval's order as scores: the first 0.0, never -0.0 (JSON would print "-0.0").
    scores, _ = score_candidates(pool, None, None, None)
    assert scores.tolist() == [-float(r) for r in range(len(pool))]
    assert not np.signbit(scores[0])
    assert not any(np.signbit(i.score) and i.score == 0 for i in result.items)


class ByCovisitation:
    def score(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[COVISIT_SCORE].to_numpy()


def test_the_ranker_sees_each_candidates_co_visitation_with_the_history(interactions, items):
    tables = build_serving_tables(interactions, items)
    sources = CandidateSources.from_tables(tables)
    pool = retrieve_candidates(
        Query(user_id=9, k=3),
        sources,
        history=[2],
        seen=[2],
        user_vector=None,
        embed_items=None,
        search=None,
    )
    scores, _ = score_candidates(pool, ByCovisitation(), None, None)
    expected = covisitation_scores(neighbour_index(tables.covisitation), [2], pool.item_ids)
    assert scores.tolist() == expected.tolist()
    assert expected.max() > 0  # item 2 has neighbours (1, 3 and 4)
