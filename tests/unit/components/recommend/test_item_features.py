"""Item rows held by the Ranking replica are the rows an online read returns: same frame, same
ranker matrix (no training-serving skew through the held path)."""

from functools import partial

import numpy as np
import pandas as pd

from components.data.columns import ITEM_ID, USER_ID
from components.features.columns import (
    ITEM_AVAILABLE,
    ITEM_CATEGORIES,
    ITEM_EVENTS_30D,
    ITEM_FEATURES,
    USER_CATEGORY_SHARES,
    USER_TOP_CATEGORIES,
)
from components.features.ranking import ranker_feature_frame
from components.features.store import online_features
from components.recommend import item_features
from components.recommend.cache import BoundedCache
from components.recommend.item_features import ItemFeatures
from components.recommend.request import cached_user_reads


class Response:
    def __init__(self, columns: dict) -> None:
        self.columns = columns

    def to_dict(self) -> dict:
        return self.columns


class FakeFeast:
    """``get_online_features`` over fixed rows (what Feast's SDK returns: None for unknown ids);
    item 3 has no row (unknown), item 9 has a partial row."""

    def __init__(self) -> None:
        self.items = {
            i: {
                ITEM_EVENTS_30D: i * 2,
                ITEM_AVAILABLE: int(i % 4 != 0),
                ITEM_CATEGORIES: "Drama|Comedy" if i % 2 else "Action",
            }
            for i in range(1, 40)
            if i != 3
        }
        self.items[9] = {ITEM_CATEGORIES: "Drama"}
        self.users = {1: {USER_TOP_CATEGORIES: "Drama", USER_CATEGORY_SHARES: "Drama:0.7000"}}
        self.calls: list[tuple[str, list[int]]] = []

    def get_online_features(self, features, entity_rows):
        ((key, ids),) = entity_rows.items()
        self.calls.append((key, list(ids)))
        rows = self.items if key == ITEM_ID else self.users
        names = [f.split(":", 1)[1] for f in features]
        return Response({n: [rows.get(i, {}).get(n) for i in ids] for n in names})


def pairs(user_id: int, items: list[int]) -> pd.DataFrame:
    return pd.DataFrame({USER_ID: user_id, ITEM_ID: items, "retrieval_score": 0.5})


def test_held_rows_equal_a_direct_online_read(monkeypatch):
    monkeypatch.setattr(item_features, "CHUNK", 7)  # several bulk reads
    store = FakeFeast()
    read = partial(online_features, store)
    held = ItemFeatures.load(read, range(1, 30), signature="1:2026-01-01")
    assert len(held) == 29
    candidates = [12, 3, 5, 9, 12, 28, 1]  # duplicates, an unknown id, a partial row
    direct_users, direct_items = online_features(store, [1], candidates)
    rows = held.rows(np.asarray(candidates), read)
    pd.testing.assert_frame_equal(rows, direct_items[list(rows.columns)], check_dtype=False)
    assert list(rows.columns) == [*ITEM_FEATURES, "found"]
    matrix_held = ranker_feature_frame(direct_users, rows, pairs(1, candidates))
    matrix_direct = ranker_feature_frame(direct_users, direct_items, pairs(1, candidates))
    pd.testing.assert_frame_equal(matrix_held, matrix_direct)


def test_ids_not_held_are_read_online_once_in_request_order():
    store = FakeFeast()
    read = partial(online_features, store)
    held = ItemFeatures.load(read, range(1, 10), signature="s")
    store.calls.clear()
    candidates = [35, 4, 36, 35]
    rows = held.rows(np.asarray(candidates), read)
    assert store.calls == [(ITEM_ID, [35, 36])]
    assert rows.index.tolist() == [35, 4, 36]
    assert rows.loc[35, ITEM_EVENTS_30D] == 70
    direct = online_features(store, [], candidates)[1]
    pd.testing.assert_frame_equal(rows, direct[list(rows.columns)], check_dtype=False)


def test_user_reads_are_cached_within_the_bound_and_item_reads_pass_through():
    store = FakeFeast()
    cache = BoundedCache(max_size=2, ttl_s=60)
    read = cached_user_reads(partial(online_features, store), cache)
    for user in (1, 1, 2, 3, 4, 1):
        frame, _ = read([user], [])
        assert frame.index.tolist() == [user]
    user_reads = [ids for key, ids in store.calls if key == USER_ID]
    assert user_reads == [[1], [2], [3], [4], [1]]  # 1 was pushed out by 3 and 4
    assert len(cache) == 2
    read([], [5])
    read([], [5])
    assert [ids for key, ids in store.calls if key == ITEM_ID] == [[5], [5]]
    assert cached_user_reads(None, cache) is None


def test_a_batch_reads_only_its_users_not_kept_and_in_one_call():
    store = FakeFeast()
    cache = BoundedCache(max_size=10, ttl_s=60)
    read = cached_user_reads(partial(online_features, store), cache)
    read([2], [])
    frame, _ = read([3, 2, 4, 3], [])
    assert [ids for key, ids in store.calls if key == USER_ID] == [[2], [3, 4]]
    assert frame.index.tolist() == [3, 2, 4]
    single, _ = read([4], [])  # kept from the batch read
    assert single.index.tolist() == [4] and len(store.calls) == 2
    pd.testing.assert_frame_equal(single, online_features(store, [4], [])[0])


def _pool(user_id: int, items: list[int]):
    from components.recommend.candidates import CandidatePool

    n = len(items)
    rng = np.random.default_rng(user_id)
    return CandidatePool(
        user_id=user_id,
        item_ids=np.asarray(items, dtype=np.int64),
        retrieval_scores=rng.normal(size=n),
        retrieval_ranks=np.arange(n, dtype=np.float64),
        sources=np.full(n, "ann", dtype=object),
        anchors=np.full(n, -1, dtype=np.int64),
        vectors=None,
        history=np.zeros(0, dtype=np.int64),
        seen=np.zeros(0, dtype=np.int64),
        cold_start=False,
        available=np.asarray([i % 5 != 0 for i in items]),
        primary_categories=np.full(n, "", dtype=object),
        allowed=np.ones(n, dtype=bool),
    )


def test_the_held_matrix_equals_the_feature_frame_over_an_online_read():
    """The ranker matrix from ``ItemFeatures.matrix`` (by index, numpy) is the one
    ``ranker_feature_frame`` builds from a direct online read: known, unknown (3) and partial (9)
    items; a user with shares (1), one the store does not know (2), shares with an unknown
    category, a duplicate and a malformed entry (5), and no user rows at all."""
    from components.recommend.scoring import online_availability, ranker_matrix

    store = FakeFeast()
    store.users[5] = {
        USER_TOP_CATEGORIES: "Comedy|Drama",
        USER_CATEGORY_SHARES: "Comedy:0.5000|Comedy:0.2000|Horror:0.3000|odd|Drama:x",
    }
    read = partial(online_features, store)
    held = ItemFeatures.load(read, range(1, 30), signature="s")
    matrix = held.matrix
    assert matrix is not None
    candidates = [12, 3, 5, 9, 28, 1, 20]
    for user in (1, 2, 5, None):
        pool = _pool(user or 7, candidates)
        users = online_features(store, [user], [])[0] if user is not None else None
        direct_items = online_features(store, [], candidates)[1]
        rows = matrix.positions(pool.item_ids)
        assert rows is not None
        fast = matrix.ranker_matrix(pool, rows, users)
        expected = ranker_matrix(pool, users, direct_items)
        pd.testing.assert_frame_equal(fast, expected.reset_index(drop=True))
        np.testing.assert_array_equal(
            matrix.availability(pool, rows), online_availability(pool, direct_items)
        )
    assert matrix.positions(np.asarray([1, 35])) is None  # an item not held: the frame path


def test_rank_pool_scores_the_same_through_the_held_matrix():
    from components.recommend.models import Loaded
    from components.recommend.request import rank_pool

    class Weighted:
        enabled = True

        def score(self, features: pd.DataFrame) -> np.ndarray:
            weights = np.arange(1, features.shape[1] + 1, dtype=np.float64)
            return features.to_numpy() @ weights

    store = FakeFeast()
    read = partial(online_features, store)
    held = ItemFeatures.load(read, range(1, 30), signature="s")
    ref = type("Ref", (), {"name": "reco-ranker", "version": "1"})()
    ranker = Loaded(model=Weighted(), ref=ref, loaded_at=0.0)  # type: ignore[arg-type]
    candidates = [12, 3, 5, 9, 28, 1, 20]
    fast = rank_pool(_pool(1, candidates), ranker, read, held.rows, None, held.matrix)
    slow = rank_pool(_pool(1, candidates), ranker, read, held.rows, None, None)
    np.testing.assert_allclose(fast.scores, slow.scores)
    np.testing.assert_array_equal(fast.available, slow.available)
    assert fast.ranked_by == slow.ranked_by == "ranker"


def test_an_item_the_store_lacks_takes_the_unknown_row_after_one_online_read(monkeypatch):
    """A catalog item never materialized (45, 46: no row in the store, not among the held
    ids) is read online once; from then on pools holding it take the held path, with the
    same matrix and availability as a direct read. The remembered ids are bounded."""
    from components.recommend import scoring
    from components.recommend.scoring import online_availability, ranker_matrix

    store = FakeFeast()
    read = partial(online_features, store)
    held = ItemFeatures.load(read, range(1, 30), signature="s")
    matrix = held.matrix
    assert matrix is not None and matrix.absent_row is not None
    assert 0 not in held.frame.index  # the unknown row is the matrix's, not a held item
    candidates = [12, 45, 5, 35, 46]  # 35: in the store, not held; 45, 46: not in the store
    assert matrix.positions(np.asarray(candidates)) is None
    store.calls.clear()
    held.rows(np.asarray(candidates), read)
    assert store.calls == [(ITEM_ID, [45, 35, 46])]
    assert matrix.absent == {45, 46}  # 35 was found: it is not "absent"
    assert matrix.positions(np.asarray(candidates)) is None  # 35 still needs the frame path
    pool_items = [12, 45, 5, 46, 1]
    rows = matrix.positions(np.asarray(pool_items))
    assert rows is not None
    pool = _pool(1, pool_items)
    users = online_features(store, [1], [])[0]
    direct_items = online_features(store, [], pool_items)[1]
    pd.testing.assert_frame_equal(
        matrix.ranker_matrix(pool, rows, users),
        ranker_matrix(pool, users, direct_items).reset_index(drop=True),
    )
    np.testing.assert_array_equal(
        matrix.availability(pool, rows), online_availability(pool, direct_items)
    )
    monkeypatch.setattr(scoring, "MAX_ABSENT_ITEMS", 3)
    matrix.note_absent([47, 48, 49])
    assert len(matrix.absent) == 3 and 48 not in matrix.absent  # full: read online instead
