import numpy as np
import pandas as pd
import pytest

from components.data.columns import EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID
from components.evaluation.baselines import (
    ALSRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    item_cosine_topk,
)


def interactions(pairs: list[tuple[int, int]]) -> pd.DataFrame:
    users, items = zip(*pairs, strict=True)
    return pd.DataFrame(
        {
            USER_ID: np.asarray(users, np.int64),
            ITEM_ID: np.asarray(items, np.int64),
            EVENT_TYPE: "view",
            TIMESTAMP: pd.Timestamp("2024-01-01", tz="UTC"),
        }
    )


# Item popularity (distinct users): 1 -> 4, 2 -> 3, 3 -> 2, 4 -> 1, 5 -> 1.
POPULAR = interactions(
    [(1, 1), (2, 1), (3, 1), (4, 1), (1, 2), (2, 2), (3, 2), (1, 3), (2, 3), (5, 4), (5, 5)]
    + [(1, 1)]  # a repeated event counts once
)


def test_popularity_returns_most_popular_unseen_items() -> None:
    model = PopularityRecommender().fit(POPULAR)
    recs = model.recommend([4, 5, 99], k=3, exclude={4: {1}, 5: {4, 5}})
    assert recs[4] == [2, 3, 4]  # 4 and 5 tie on one user; the lower id first
    assert recs[5] == [1, 2, 3]
    assert recs[99] == [1, 2, 3]  # unseen user, nothing to exclude
    assert model.recommend([4], k=10, exclude={4: {1, 2, 3, 4, 5}}) == {4: []}


def test_catalog_restricts_what_is_recommended() -> None:
    model = PopularityRecommender(catalog=[2, 3, 4, 5, 77]).fit(POPULAR)
    assert model.recommend([4], k=10) == {4: [2, 3, 4, 5]}  # 1 is off-catalog, 77 never seen


# Two clusters: items 1-3 co-occur, items 10-12 co-occur; item 20 is globally most popular.
CLUSTERS = interactions(
    [(u, i) for u in range(1, 6) for i in (1, 2, 3)]
    + [(u, i) for u in range(6, 11) for i in (10, 11, 12)]
    + [(u, 20) for u in range(11, 21)]
    + [(21, 1), (22, 10)]
)


def test_item_knn_recommends_co_occurring_items() -> None:
    model = ItemKNNRecommender(neighbours=5).fit(CLUSTERS)
    exclude = {21: {1}, 22: {10}}
    recs = model.recommend([21, 22], k=3, exclude=exclude)
    assert set(recs[21][:2]) == {2, 3}
    assert set(recs[22][:2]) == {11, 12}
    assert recs[21][2] == 20  # no co-occurrence left: the most popular item fills the list
    assert not set(recs[21]) & exclude[21]
    # Without exclusion a user's own items rank first; with it they never appear.
    assert set(model.recommend([1], k=3)[1]) == {1, 2, 3}
    assert not set(model.recommend([1], k=5, exclude={1: {1, 2, 3}})[1]) & {1, 2, 3}


def test_item_cosine_is_symmetric_capped_and_zero_on_the_diagonal() -> None:
    model = ItemKNNRecommender(neighbours=1).fit(CLUSTERS)
    sim = model.similarity.toarray()
    assert np.all(np.diag(sim) == 0)
    assert ((sim > 0).sum(axis=1) <= 1).all()
    full = item_cosine_topk(model._user_items, neighbours=100).toarray()
    np.testing.assert_allclose(full, full.T, rtol=1e-6)
    pos = {item: i for i, item in enumerate(model.item_ids)}
    # items 1 and 2: 5 shared users of 5 and 6 users (user 21 also saw item 1).
    assert full[pos[1], pos[2]] == pytest.approx(5 / np.sqrt(6 * 5))


def test_unseen_user_gets_popularity_fallback_from_item_knn() -> None:
    model = ItemKNNRecommender().fit(CLUSTERS)
    assert model.recommend([999], k=1, exclude={}) == {999: [20]}


def test_als_returns_k_unseen_items_per_user() -> None:
    model = ALSRecommender(factors=4, iterations=2, seed=0, num_threads=1).fit(CLUSTERS)
    exclude = {1: {1, 2, 3}, 6: {10, 11, 12}, 21: {1}}
    users = [1, 6, 21, 999]
    recs = model.recommend(users, k=4, exclude=exclude)
    assert list(recs) == users
    for user in users:
        assert len(recs[user]) == 4
        assert len(set(recs[user])) == 4
        assert not set(recs[user]) & exclude.get(user, set())
        assert set(recs[user]) <= {1, 2, 3, 10, 11, 12, 20}
    assert recs[999] == [20, 1, 10, 2]  # unseen user: popularity (ties by id)


def test_recommend_before_fit_and_bad_k_raise() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        PopularityRecommender().recommend([1], k=1)
    model = ItemKNNRecommender().fit(CLUSTERS)
    with pytest.raises(ValueError, match="k must be"):
        model.recommend([1], k=0)
    with pytest.raises(ValueError, match="empty"):
        PopularityRecommender().fit(CLUSTERS.iloc[:0])


def test_popularity_weighs_positives_and_ignores_skips() -> None:
    train = interactions([(1, 1), (2, 1), (3, 1), (1, 2), (2, 3), (3, 3)])
    train[EVENT_TYPE] = ["view", "view", "view", "purchase", "impression_skip", "impression_skip"]
    model = PopularityRecommender().fit(train)
    # item 2: one purchase (5) > item 1: three views (0.9); item 3 was only skipped
    assert model.recommend([9], k=3)[9] == [2, 1]
