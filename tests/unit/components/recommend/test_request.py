"""One request through Retrieval and Ranking with fakes for the tower, index and online store."""

import numpy as np
import pandas as pd
import pytest

from components.data.columns import ITEM_ID, USER_ID
from components.features.columns import (
    ITEM_AVAILABLE,
    ITEM_EVENTS_30D,
    RETRIEVAL_SCORE,
    USER_RECENT_ITEMS,
)
from components.features.ranking import RANKER_FEATURES
from components.features.store import FOUND
from components.recommend import request
from components.recommend.candidates import (
    FALLBACK_MILVUS,
    FALLBACK_ONLINE_STORE,
    FALLBACK_RANKER,
    FALLBACK_RETRIEVAL_MODEL,
    FALLBACK_TABLES,
    SOURCE_ANN,
    SOURCE_POPULAR,
    Query,
)
from components.recommend.models import Loaded
from components.recommend.request import (
    known_items,
    rank_pool,
    rank_pools,
    recommend_candidates,
    recommend_candidates_batch,
    similar_items,
    user_history,
)
from components.recommend.results import finalize
from components.recommend.sources import CandidateSources
from components.recommend.tables import build_serving_tables
from components.registry import ModelRef

DIM = 4
CATALOG = np.arange(1, 13)


def embed(ids):
    ids = np.asarray(ids, dtype=np.int64)
    return np.eye(DIM, dtype=np.float32)[ids % DIM] + 0.01 * ids[:, None].astype(np.float32)


def exact_search(vectors, k, categories, exclude):
    scores = embed(CATALOG) @ vectors[0]
    order = [i for i in np.argsort(-scores) if int(CATALOG[i]) not in exclude[0]]
    return [[(int(CATALOG[i]), float(scores[i])) for i in order[:k]]]


def broken(*args):
    raise ConnectionError("down")


class FakeTwoTower:
    """The user side of TwoTowerRetrieval: the user vector is the last item's vector."""

    history_length = 2

    def __init__(self) -> None:
        self.histories: list[list[int]] = []

    def user_embeddings(self, users, histories):
        self.histories.extend(histories)
        return embed([h[0] for h in histories])


class FakeBundle:  # components.recommend.tower.Tower
    def __init__(self) -> None:
        self.model = FakeTwoTower()
        self.vectors = embed


class EventsRanker:
    """Scores by the 30-day events feature, so features visibly reach the ranker."""

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        assert list(frame.columns) == list(RANKER_FEATURES)
        return frame[ITEM_EVENTS_30D].to_numpy()


def loaded(model, name="reco-two-tower", version="7") -> Loaded:
    return Loaded(ModelRef(name, "champion", version), model, loaded_at=123.0)


class FakeStore:
    """``online_features`` over fixed rows: user 1 recently saw item 5; items 4.. have events."""

    def __init__(self, recent=(5,), unavailable=()) -> None:
        self.recent = list(recent)
        self.unavailable = set(unavailable)
        self.calls: list[tuple[list[int], list[int]]] = []

    def __call__(self, users, items):
        self.calls.append((list(users), list(items)))
        user_frame = pd.DataFrame(
            {
                USER_RECENT_ITEMS: [self.recent if u == 1 else [] for u in users],
                FOUND: [u == 1 for u in users],
            },
            index=pd.Index(list(users), name=USER_ID, dtype="int64"),
        )
        item_frame = pd.DataFrame(
            {
                ITEM_EVENTS_30D: [float(i) for i in items],
                ITEM_AVAILABLE: [0 if i in self.unavailable else 1 for i in items],
                FOUND: True,
            },
            index=pd.Index(list(items), name=ITEM_ID, dtype="int64"),
        )
        return user_frame, item_frame


@pytest.fixture
def sources(interactions, items):
    return CandidateSources.from_tables(
        build_serving_tables(interactions, items, covisit_days=None)
    )


def test_history_is_the_online_stores_list_and_the_tables_stand_in_when_it_is_down(sources):
    history = user_history(1, 3, sources, FakeStore(recent=(5, 2)))
    assert history.items.tolist() == [5, 2]  # the store's list is the whole history
    assert history.seen.tolist() == [1, 2, 3, 5]
    assert history.fallbacks == [] and bool(history.user_features[FOUND].iloc[0])
    for store in (None, broken):
        down = user_history(1, 3, sources, store)
        assert down.items.tolist() == [3, 2, 1] and down.fallbacks == [FALLBACK_ONLINE_STORE]
        assert down.user_features is None


def test_known_user_gets_k_unseen_candidates_with_the_tower_and_index(sources):
    bundle = FakeBundle()
    pool = recommend_candidates(
        Query(user_id=1, k=3),
        sources,
        tower=loaded(bundle),
        search=exact_search,
        read_features=FakeStore(),
        recently_seen=np.array([9]),
    )
    assert bundle.model.histories == [[5]]  # the online store's history
    assert not set(pool.item_ids.tolist()) & {1, 2, 3, 5, 9}
    assert SOURCE_ANN in set(pool.sources) and pool.fallbacks == []
    assert pool.versions == {"reco-two-tower": "7"} and pool.loaded_at == {"reco-two-tower": 123.0}
    assert pool.user_features is not None and "Retrieval" in pool.timings
    assert set(pool.stages) == set(request.STAGES)  # every stage timed
    assert all(0 <= s <= pool.timings["Retrieval"] for s in pool.stages.values())


def test_missing_parts_degrade_the_pool_but_still_fill_it(sources):
    pool = recommend_candidates(
        Query(user_id=1, k=3),
        sources,
        tower=None,
        search=exact_search,
        read_features=None,
        tables_degraded=True,
    )
    assert set(pool.fallbacks) == {
        FALLBACK_RETRIEVAL_MODEL,
        FALLBACK_ONLINE_STORE,
        FALLBACK_TABLES,
    }
    assert pool.versions == {} and SOURCE_ANN not in set(pool.sources)
    assert (pool.available & ~np.isin(pool.item_ids, [1, 2, 3])).sum() >= 3
    milvus_down = recommend_candidates(
        Query(user_id=1, k=3),
        sources,
        tower=loaded(FakeBundle()),
        search=broken,
        read_features=FakeStore(),
    )
    assert milvus_down.fallbacks == [FALLBACK_MILVUS]


def test_cold_user_gets_popularity(sources):
    pool = recommend_candidates(
        Query(user_id=99, k=3),
        sources,
        tower=loaded(FakeBundle()),
        search=exact_search,
        read_features=FakeStore(),
    )
    assert pool.cold_start and set(pool.sources) == {SOURCE_POPULAR}
    assert pool.item_ids[:3].tolist() == sources.popular(3).ids.tolist()


def test_ranking_scores_with_online_features_and_the_store_overrides_availability(sources):
    store = FakeStore(unavailable={10})
    pool = recommend_candidates(
        Query(user_id=99, k=4), sources, tower=None, search=None, read_features=store
    )
    ranked = rank_pool(pool, loaded(EventsRanker(), "reco-ranker", "2"), store)
    assert store.calls[-1] == ([], pool.item_ids.tolist())  # the user row came with retrieval
    assert ranked.scores.tolist() == [float(i) for i in pool.item_ids]
    assert not ranked.available[pool.item_ids == 10].any()
    assert ranked.versions == {"reco-ranker": "2"} and ranked.user_features is None
    result = finalize(ranked, Query(user_id=99, k=4), 1.0, None)
    ids = [i.item_id for i in result.items]
    assert len(ids) == 4 and 10 not in ids and ids == sorted(ids, reverse=True)
    assert result.fallbacks == [FALLBACK_RETRIEVAL_MODEL]  # no tower; the ranker ran
    assert result.ranked_by == "ranker"


def test_a_ranker_disabled_by_validation_is_loaded_but_retrieval_order_serves(sources):
    store = FakeStore()
    pool = recommend_candidates(
        Query(user_id=99, k=4), sources, tower=None, search=None, read_features=store
    )
    disabled = EventsRanker()
    disabled.enabled = False  # as `load_ranker` reads it from the version's validation.json
    ranked = rank_pool(pool, loaded(disabled, "reco-ranker", "3"), store)
    assert ranked.scores.tolist() == (-pool.retrieval_ranks).tolist()
    # A choice, not a fallback: only the missing tower of this fixture is reported.
    assert ranked.ranked_by == "retrieval" and ranked.fallbacks == [FALLBACK_RETRIEVAL_MODEL]
    assert ranked.versions == {"reco-ranker": "3"}  # the version is still the one on record


def test_ranking_without_ranker_or_store_keeps_retrieval_order_and_says_so(sources):
    pool = recommend_candidates(
        Query(user_id=99, k=3), sources, tower=None, search=None, read_features=None
    )
    ranked = rank_pool(pool, None, None)
    assert ranked.scores.tolist() == (-pool.retrieval_ranks).tolist()
    assert {FALLBACK_RANKER, FALLBACK_ONLINE_STORE} <= set(ranked.fallbacks)
    store_fails = rank_pool(
        recommend_candidates(
            Query(user_id=99, k=3), sources, tower=None, search=None, read_features=None
        ),
        loaded(EventsRanker(), "reco-ranker", "2"),
        broken,
    )
    assert FALLBACK_ONLINE_STORE in store_fails.fallbacks
    assert FALLBACK_RANKER not in store_fails.fallbacks  # defaults, scored by the ranker


def test_similar_and_known_items(sources):
    found = similar_items(2, 3, sources, tower=loaded(FakeBundle()), search=exact_search)
    assert (
        found.fallbacks == [] and len(found.items) == 3 and 2 not in [i for i, _, _ in found.items]
    )
    assert found.items[0][2].startswith("Item ") and found.versions == {"reco-two-tower": "7"}
    degraded = similar_items(2, 3, sources, tower=None, search=None, tables_degraded=True)
    assert degraded.fallbacks == [FALLBACK_RETRIEVAL_MODEL, FALLBACK_TABLES]
    assert len(degraded.items) == 3
    assert similar_items(999, 3, sources, tower=None, search=None) is None
    assert known_items(sources, [999, 4, 1]) == [4, 1]


def test_cold_answers_of_unknown_users_are_kept_per_segment_and_model(sources):
    from components.recommend.cache import BoundedCache

    store = FakeStore(unavailable={10})
    cache = BoundedCache(max_size=2, ttl_s=60)
    ranker = loaded(EventsRanker(), "reco-ranker", "2")

    def ranked(user_id, categories=(), model=ranker):
        query = Query(user_id=user_id, k=4, categories=categories)
        pool = recommend_candidates(query, sources, tower=None, search=None, read_features=store)
        return rank_pool(pool, model, store, anonymous=cache)

    first = ranked(99)
    item_reads = len([c for c in store.calls if c[1]])
    second = ranked(98)  # another unknown user, same segment: no item read, same answer
    assert len([c for c in store.calls if c[1]]) == item_reads
    assert second.scores.tolist() == first.scores.tolist()
    assert second.available.tolist() == first.available.tolist()
    assert second.user_id == 98 and second.versions == {"reco-ranker": "2"} and len(cache) == 1
    ranked(1)  # a known user with history is never cached
    assert len(cache) == 1
    ranked(97, model=loaded(EventsRanker(), "reco-ranker", "3"))  # another model version
    assert len(cache) == 2
    hits = cache.hits
    for category in ("A", "B", "C"):  # more segments than the cache holds
        assert len(ranked(96, categories=(category,)))
    assert len(cache) == 2 and cache.hits == hits
    ranked(95, categories=("C",))  # the latest segment is still kept
    assert cache.hits == hits + 1


class CountingSearch:
    """Exact search over every query vector of a call, counting the calls."""

    def __init__(self, catalog) -> None:
        self.catalog = catalog
        self.calls: list[int] = []

    def __call__(self, vectors, k, categories, exclude):
        self.calls.append(len(vectors))
        scores = embed(CATALOG) @ np.asarray(vectors).T
        keep = self.catalog.in_categories(CATALOG, categories)
        rows = []
        for column, banned in enumerate(exclude):
            order = np.argsort(-scores[:, column])
            ok = [i for i in order if keep[i] and int(CATALOG[i]) not in banned]
            rows.append([(int(CATALOG[i]), float(scores[i, column])) for i in ok[:k]])
        return rows


class CountingRanker:
    """Scores by the retrieval score and the item's events (so two users' candidates score
    differently), counting the predictions."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        self.calls.append(len(frame))
        return frame[RETRIEVAL_SCORE].to_numpy() * 100 + frame[ITEM_EVENTS_30D].to_numpy()


BATCH = [
    Query(user_id=1, k=3),
    Query(user_id=2, k=3),
    Query(user_id=3, k=3, categories=("C",)),
    Query(user_id=99, k=3),
]


def test_a_batch_of_requests_gets_each_its_own_answer_from_one_search_and_one_forward(sources):
    recently = [np.array([9]), None, None, None]

    def each(query, seen, bundle, search, store):
        return recommend_candidates(
            query,
            sources,
            tower=loaded(bundle),
            search=search,
            read_features=store,
            recently_seen=seen,
        )

    alone = [
        each(q, r, FakeBundle(), CountingSearch(sources.catalog), FakeStore())
        for q, r in zip(BATCH, recently, strict=True)
    ]
    bundle, search, store = FakeBundle(), CountingSearch(sources.catalog), FakeStore()
    together = recommend_candidates_batch(
        BATCH,
        sources,
        tower=loaded(bundle),
        search=search,
        read_features=store,
        recently_seen=recently,
    )
    assert store.calls == [([1, 2, 3, 99], [])]  # one online read for the batch's users
    assert search.calls == [2, 1]  # users 1 and 2 share one call; user 3 filters on "C"
    assert len(bundle.model.histories) == 3  # one forward for the three users with a history
    for one, batched in zip(alone, together, strict=True):
        assert batched.user_id == one.user_id
        assert batched.item_ids.tolist() == one.item_ids.tolist()
        assert np.allclose(batched.retrieval_scores, one.retrieval_scores)
        assert batched.sources.tolist() == one.sources.tolist()
        assert batched.fallbacks == one.fallbacks and batched.cold_start == one.cold_start
    assert together[0].item_ids.tolist() != together[1].item_ids.tolist()
    assert 9 not in together[0].item_ids and 4 in together[0].item_ids  # user 2 saw 4, not 1
    assert 4 not in together[1].item_ids

    ranker = CountingRanker()
    single = [
        rank_pool(p, loaded(CountingRanker(), "reco-ranker", "2"), FakeStore()) for p in alone
    ]
    ranked = rank_pools(together, loaded(ranker, "reco-ranker", "2"), FakeStore())
    assert ranker.calls == [sum(len(p) for p in together)]  # one prediction for all four
    for one, batched in zip(single, ranked, strict=True):
        assert batched.scores.tolist() == one.scores.tolist()
        assert batched.versions == one.versions and batched.fallbacks == one.fallbacks


def test_a_failed_batched_search_degrades_every_request_of_the_batch(sources):
    pools = recommend_candidates_batch(
        BATCH[:2], sources, tower=loaded(FakeBundle()), search=broken, read_features=FakeStore()
    )
    assert [p.fallbacks for p in pools] == [[FALLBACK_MILVUS], [FALLBACK_MILVUS]]
    assert all(len(p) >= 3 for p in pools)


def test_batched_cold_answers_are_cached_with_their_real_scores(sources):
    from components.recommend.cache import BoundedCache

    cache = BoundedCache(max_size=4, ttl_s=60)
    store = FakeStore()
    queries = [Query(user_id=98, k=3), Query(user_id=97, k=3, categories=("C",))]
    pools = recommend_candidates_batch(
        queries, sources, tower=None, search=None, read_features=store
    )
    ranker = CountingRanker()
    ranked = rank_pools(pools, loaded(ranker, "reco-ranker", "2"), store, anonymous=cache)
    assert len(ranker.calls) == 1 and len(cache) == 2
    again = recommend_candidates_batch(
        queries, sources, tower=None, search=None, read_features=store
    )
    rerun = rank_pools(again, loaded(ranker, "reco-ranker", "2"), store, anonymous=cache)
    assert len(ranker.calls) == 1  # both answers came from the cache
    for first, second in zip(ranked, rerun, strict=True):
        assert second.scores.tolist() == first.scores.tolist()
        assert np.any(first.scores != 0)


def test_the_tables_stand_in_history_never_holds_a_skip(sources):
    """User 2 skipped item 5 last: it is seen (not shown again), never history."""
    for store in (None, broken):
        down = user_history(2, 10, sources, store)
        assert down.items.tolist() == [4, 2, 1]
        assert 5 in down.seen.tolist()
