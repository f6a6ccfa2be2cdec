import numpy as np
import pytest

from components.recommend.candidates import (
    FALLBACK_MILVUS,
    FALLBACK_RETRIEVAL_MODEL,
    SOURCE_ANN,
    SOURCE_COVISIT,
    SOURCE_POPULAR,
    Query,
    best_anchors,
    merge_sources,
    retrieve_candidates,
    similar_candidates,
)
from components.recommend.sources import CandidateSources, Scored
from components.recommend.tables import build_serving_tables

DIM = 4


def embed(ids):
    """A fixed vector per id: items 1..12 on a few directions."""
    ids = np.asarray(ids, dtype=np.int64)
    basis = np.eye(DIM, dtype=np.float32)
    return basis[ids % DIM] + 0.01 * ids[:, None].astype(np.float32)


def exact_search(vectors, k, categories, exclude):
    ids = np.arange(1, 13)
    scores = embed(ids) @ vectors[0]
    order = [i for i in np.argsort(-scores) if int(ids[i]) not in exclude[0]]
    return [[(int(ids[i]), float(scores[i])) for i in order[:k]]]


def broken_search(vectors, k, categories, exclude):
    raise ConnectionError("milvus is down")


@pytest.fixture
def sources(interactions, items):
    return CandidateSources.from_tables(
        build_serving_tables(interactions, items, covisit_days=None)
    )


def test_merge_keeps_the_first_source_of_each_item():
    a = Scored(np.array([3, 1]), np.array([0.9, 0.8]), np.array([-1, -1]))
    b = Scored(np.array([1, 5]), np.array([7.0, 6.0]), np.array([2, 2]))
    merged, labels = merge_sources([("ann", a), ("popular", b)])
    assert merged.ids.tolist() == [3, 1, 5]
    assert labels.tolist() == ["ann", "ann", "popular"]
    assert merge_sources([("x", a)], limit=1)[0].ids.tolist() == [3]


def test_known_user_gets_ann_covisitation_and_popularity_without_seen_items(sources):
    pool = retrieve_candidates(
        Query(user_id=1, k=3),
        sources,
        history=[3, 2, 1],
        seen=[3, 2, 1],
        user_vector=embed([2])[0],
        embed_items=embed,
        search=exact_search,
    )
    assert {SOURCE_ANN, SOURCE_COVISIT, SOURCE_POPULAR} >= set(pool.sources)
    assert SOURCE_ANN in set(pool.sources)
    assert not set(pool.item_ids.tolist()) & {1, 2, 3}
    assert len(set(pool.item_ids.tolist())) == len(pool)  # no duplicates
    assert pool.fallbacks == [] and not pool.cold_start
    ann = pool.sources == SOURCE_ANN
    assert set(pool.anchors[ann].tolist()) <= {1, 2, 3}  # "because you watched" one of them
    # Retrieval scores are the two-tower dot products; ranks order them.
    best = int(np.argmin(pool.retrieval_ranks))
    assert pool.retrieval_scores[best] == pool.retrieval_scores.max()
    assert pool.vectors.shape == (len(pool), DIM)


def test_user_without_history_gets_popularity_in_the_requested_categories(sources):
    pool = retrieve_candidates(
        Query(user_id=99, k=2, categories=("C",)),
        sources,
        history=[],
        seen=[],
        user_vector=None,
        embed_items=embed,
        search=exact_search,
    )
    assert pool.cold_start and set(pool.sources) == {SOURCE_POPULAR}
    assert set(pool.item_ids.tolist()) == {6, 7, 8, 9}
    assert pool.allowed.all() and pool.fallbacks == []


def test_context_category_narrows_popularity_when_no_categories_are_given(sources):
    pool = retrieve_candidates(
        Query(user_id=99, k=2, context={"category": "A"}),
        sources,
        history=[],
        seen=[],
        user_vector=None,
        embed_items=None,
        search=None,
    )
    assert set(pool.item_ids.tolist()) == {1, 2, 3, 10}


def test_index_down_degrades_but_popularity_still_fills_the_pool(sources):
    for search, vector, reason in (
        (broken_search, embed([2])[0], FALLBACK_MILVUS),
        (None, embed([2])[0], FALLBACK_MILVUS),
        (exact_search, None, FALLBACK_RETRIEVAL_MODEL),
    ):
        pool = retrieve_candidates(
            Query(user_id=1, k=5),
            sources,
            history=[3, 2, 1],
            seen=[3, 2, 1],
            user_vector=vector,
            embed_items=embed,
            search=search,
        )
        assert pool.fallbacks == [reason]
        assert SOURCE_ANN not in set(pool.sources)
        eligible = pool.available & ~np.isin(pool.item_ids, [1, 2, 3])
        assert eligible.sum() >= 5


def test_best_anchor_is_the_most_similar_history_item():
    anchors = best_anchors(embed([5, 6]), np.array([1, 2]), embed([1, 2]))
    assert anchors.tolist() == [1, 2]  # 5 % 4 == 1 % 4, 6 % 4 == 2 % 4
    assert best_anchors(embed([5]), np.array([], dtype=np.int64), embed([])).tolist() == [-1]


def test_similar_uses_the_index_then_falls_back_to_covisitation(sources):
    found, fallbacks = similar_candidates(2, 3, sources, embed_items=embed, search=exact_search)
    assert fallbacks == [] and 2 not in found.ids and len(found) == 3
    found, fallbacks = similar_candidates(2, 3, sources, embed_items=embed, search=broken_search)
    assert fallbacks == [FALLBACK_MILVUS] and 2 not in found.ids and len(found) == 3
