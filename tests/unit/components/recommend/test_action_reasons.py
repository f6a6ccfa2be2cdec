"""The answer's reason names the ranker's dominant action (``Σ weight_i × P(action_i)``: the
action adding most), from the same prediction as the score; retrieval-only answers keep their
reasons."""

import numpy as np
import pandas as pd
import pytest

from components.data.columns import ITEM_ID, USER_ID
from components.features.columns import ITEM_AVAILABLE, ITEM_EVENTS_30D
from components.features.store import FOUND
from components.ranker.actions import dominant_actions
from components.ranker.model import Ranker
from components.recommend.cache import BoundedCache
from components.recommend.candidates import Query
from components.recommend.models import Loaded
from components.recommend.reasons import likely, reason
from components.recommend.request import rank_pool, rank_pools, recommend_candidates
from components.recommend.results import finalize
from components.recommend.scoring import ItemMatrix
from components.recommend.sources import CandidateSources
from components.recommend.tables import build_serving_tables
from components.registry import ModelRef


class TwoHeads(Ranker):
    """Two heads by hand: P(click) = 0.9 for every item, P(purchase) = 0.6 for an item with
    an even 30-day count (the fake store gives each item its id) and 0.05 otherwise. Weights
    click 1, purchase 5: an even item's purchase adds 3.0 > 0.9 (dominant: purchase), an odd
    one's 0.25 < 0.9 (dominant: click)."""

    def __init__(self) -> None:
        super().__init__(
            heads={"click": None, "purchase": None},  # type: ignore[dict-item]
            feature_names=[ITEM_EVENTS_30D],
            weights={"click": 1.0, "purchase": 5.0},
        )
        self.calls = 0

    def probabilities(self, features: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        even = features[ITEM_EVENTS_30D].to_numpy() % 2 == 0
        return np.stack([np.full(len(features), 0.9), np.where(even, 0.6, 0.05)], axis=1)


def expected(item_id: int) -> str:
    return "purchase" if item_id % 2 == 0 else "click"


def store(users, items):
    """Unknown users; every item known, available, with its id as its 30-day count."""
    users_frame = pd.DataFrame(
        {FOUND: [False] * len(users)}, index=pd.Index(list(users), name=USER_ID, dtype="int64")
    )
    items_frame = pd.DataFrame(
        {ITEM_EVENTS_30D: [float(i) for i in items], ITEM_AVAILABLE: 1, FOUND: True},
        index=pd.Index(list(items), name=ITEM_ID, dtype="int64"),
    )
    return users_frame, items_frame


def loaded(model) -> Loaded:
    return Loaded(ModelRef("reco-ranker", "champion", "4"), model, loaded_at=1.0)


@pytest.fixture
def sources(interactions, items):
    return CandidateSources.from_tables(
        build_serving_tables(interactions, items, covisit_days=None)
    )


def pool_of(sources, user_id=99, k=4, **query):
    return recommend_candidates(
        Query(user_id=user_id, k=k, **query), sources, tower=None, search=None, read_features=store
    )


def test_likely_phrases_positive_actions_only():
    assert likely("purchase") == "likely to purchase"
    assert likely("add_to_cart") == "likely to add to cart"
    assert likely("rating_ge4") == "likely to rate highly"
    assert likely("rating_ge4.5") == "likely to rate 4.5 or more"
    assert likely("wishlist") == "likely to wishlist"
    assert likely("view_lt5") == "" and likely("relevance") == "" and likely("") == ""
    assert reason("ann", -1, "", [], (), "purchase") == "likely to purchase"
    assert reason("ann", 3, "Heat", [], (), "click") == "because you watched Heat, likely to click"
    assert reason("popular", -1, "", ["B"], (), "") == "popular in B"
    # a row whose every weighted probability is <= 0 names nothing (a skip is no reason)
    weights = np.array([-1.0, 5.0])
    assert dominant_actions(np.array([[0.9, 0.0]]), weights, ["impression_skip", "purchase"]) == [
        ""
    ]


def test_the_reason_names_the_dominant_action_of_a_two_head_ranker(sources):
    ranker = TwoHeads()
    ranked = rank_pool(pool_of(sources, k=8), loaded(ranker), store)
    assert ranker.calls == 1  # scores and actions from one prediction
    assert ranked.actions.tolist() == [expected(int(i)) for i in ranked.item_ids]
    result = finalize(ranked, Query(user_id=99, k=8), 1.0, None)
    assert result.ranked_by == "ranker" and len(result.items) == 8
    for item in result.items:
        assert item.action == expected(item.item_id)
        assert item.reason.startswith("popular") and item.reason.endswith(
            f", likely to {expected(item.item_id)}"
        )
    assert {i.action for i in result.items} == {"purchase", "click"}


def test_the_held_matrix_batch_and_cache_carry_the_same_actions(sources, items):
    alone = rank_pool(pool_of(sources), loaded(TwoHeads()), store)
    _, rows = store([], items[ITEM_ID].tolist())
    matrix = ItemMatrix.from_rows(rows)
    cache = BoundedCache(max_size=4, ttl_s=60)
    ranker = TwoHeads()
    pools = [pool_of(sources), pool_of(sources, user_id=98, categories=("C",))]
    ranked = rank_pools(pools, loaded(ranker), store, anonymous=cache, item_matrix=matrix)
    assert ranker.calls == 1  # one prediction for the batch, actions included
    assert ranked[0].actions.tolist() == alone.actions.tolist()
    assert ranked[1].actions.tolist() == [expected(int(i)) for i in ranked[1].item_ids]
    again = rank_pool(pool_of(sources), loaded(ranker), store, anonymous=cache, item_matrix=matrix)
    assert ranker.calls == 1  # from the cold-start cache, with its actions
    assert again.actions.tolist() == alone.actions.tolist()


def test_retrieval_only_answers_keep_todays_reasons(sources):
    def reasons(ranker):
        ranked = rank_pool(pool_of(sources, k=6), ranker, store)
        result = finalize(ranked, Query(user_id=99, k=6), 1.0, None)
        assert result.ranked_by == "retrieval"
        return [(i.item_id, i.reason, i.action) for i in result.items]

    off = TwoHeads()
    off.enabled = False  # validation kept the heads off: retrieval order serves
    no_ranker = reasons(None)
    assert reasons(loaded(off)) == no_ranker
    assert all(r.startswith("popular") and a == "" for _, r, a in no_ranker)
