"""Real Feast (file offline store, SQLite online store) under tmp_path: apply → historical →
materialize → online, as training and serving use it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    CREATED_AT,
    EVENT_TYPE,
    ITEM_ID,
    TIMESTAMP,
    TITLE,
    USER_ID,
)
from components.features import columns as fc
from components.features.build import build_feature_tables
from components.features.ranking import RANKER_FEATURES, ranker_feature_frame
from components.features.store import (
    FEATURE_STORE_YAML,
    FOUND,
    apply_features,
    feature_store,
    historical_features,
    materialize_latest,
    online_features,
)

pytestmark = pytest.mark.integration


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


EVENTS = pd.DataFrame(
    {
        USER_ID: pd.Series([1, 1, 2, 1, 1], dtype="int64"),
        ITEM_ID: pd.Series([10, 11, 10, 12, 10], dtype="int64"),
        EVENT_TYPE: "view",
        TIMESTAMP: [
            ts(d) for d in ("2024-01-01", "2024-01-02", "2024-01-03", "2024-02-01", "2024-02-02")
        ],
    }
)
ITEMS = pd.DataFrame(
    {
        ITEM_ID: pd.Series([10, 11, 12], dtype="int64"),
        TITLE: ["a", "b", "c"],
        CATEGORIES: ["Action|Comedy", "Drama", "Action"],
        AVAILABLE: [True, True, False],
        CREATED_AT: [ts("2023-12-01")] * 3,
    }
)
SNAPSHOTS = [ts("2024-01-15"), ts("2024-02-15")]


def test_apply_historical_materialize_online(tmp_path: Path) -> None:
    users, items = build_feature_tables(EVENTS, ITEMS, SNAPSHOTS)
    repo = tmp_path / "feast"
    store = feature_store(repo, None, "reco_test")
    apply_features(store, users, items, repo / "data")

    # Two timestamps of the same user: each sees only the snapshot at or before it; many
    # candidates of one user at one timestamp all survive (Feast's Dask store would collapse them).
    entity = pd.DataFrame(
        {
            USER_ID: [1, 1, 1, 1, 3],
            ITEM_ID: [10, 11, 12, 10, 10],
            fc.EVENT_TIMESTAMP: [ts("2024-01-20")] * 3 + [ts("2024-03-01"), ts("2024-03-01")],
            "label": [1, 0, 0, 1, 0],
        },
        index=[7, 8, 9, 10, 11],
    )
    hist = historical_features(store, entity)
    assert list(hist.index) == [7, 8, 9, 10, 11]
    assert hist["label"].tolist() == [1, 0, 0, 1, 0]
    assert hist[fc.USER_EVENTS_ALL].tolist() == [2, 2, 2, 4, 0]  # user 3 unknown: default
    assert hist[fc.ITEM_EVENTS_ALL].tolist() == [2, 1, 0, 3, 3]
    assert hist[fc.USER_TOP_CATEGORIES].iloc[0] == "Drama|Action|Comedy"
    assert hist[fc.USER_TOP_CATEGORIES].iloc[3] == "Action|Comedy|Drama"
    assert list(ranker_feature_frame(None, None, hist).columns) == list(RANKER_FEATURES)

    materialize_latest(store, SNAPSHOTS[-1].to_pydatetime())
    calls: list[dict] = []
    original = store.get_online_features

    def counting(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    store.get_online_features = counting  # type: ignore[method-assign]
    user_rows, item_rows = online_features(store, [1, 99], [10, 11, 12, 10, 777])
    assert len(calls) == 2  # one batched read per entity type, not one per item
    assert user_rows.loc[1, fc.USER_EVENTS_ALL] == 4
    assert user_rows.loc[1, fc.USER_RECENT_ITEMS] == [12, 11, 10]  # a repeat keeps its place
    assert user_rows.loc[99, fc.USER_EVENTS_ALL] == 0 and not user_rows.loc[99, FOUND]
    assert user_rows.loc[99, fc.USER_RECENT_ITEMS] == []  # a list default, a fresh list per row
    assert user_rows.loc[99, fc.USER_RECENT_ITEMS] is not fc.USER_DEFAULTS[fc.USER_RECENT_ITEMS]
    assert user_rows[fc.USER_EVENTS_ALL].dtype.kind == "i"
    assert user_rows.attrs["missing"] == [99]
    assert list(item_rows.index) == [10, 11, 12, 777]
    assert item_rows.loc[10, fc.ITEM_EVENTS_ALL] == 3
    assert item_rows.loc[12, fc.ITEM_AVAILABLE] == 0
    assert item_rows.attrs["missing"] == [777]

    # The generated yaml opens the same store for `feast` CLI users.
    from feast import FeatureStore

    assert (repo / FEATURE_STORE_YAML).exists()
    from_yaml = FeatureStore(repo_path=str(repo))
    assert {v.name for v in from_yaml.list_feature_views()} == {fc.USER_VIEW, fc.ITEM_VIEW}
    assert from_yaml.get_feature_service(fc.RANKER_SERVICE).name == fc.RANKER_SERVICE


def test_held_item_rows_equal_a_direct_read_and_follow_materialization(tmp_path: Path) -> None:
    """The Ranking replica's bulk path (every item's row read once, taken by index) gives the
    same rows and the same ranker matrix as an online read of the candidates; a new
    materialization changes the signature the replica checks."""
    from functools import partial

    from components.features.store import item_entity_ids, materialization_signature
    from components.recommend.item_features import ItemFeatures

    users, items = build_feature_tables(EVENTS, ITEMS, SNAPSHOTS)
    repo = tmp_path / "feast"
    store = feature_store(repo, None, "reco_test")
    apply_features(store, users, items, repo / "data")
    never = materialization_signature(store)
    materialize_latest(store, SNAPSHOTS[0].to_pydatetime())
    first = materialization_signature(store)
    assert first != never
    assert item_entity_ids(store).tolist() == [10, 11, 12]

    read = partial(online_features, store)
    held = ItemFeatures.load(read, item_entity_ids(store), first)
    candidates = [12, 10, 777, 11, 10]  # an id the store does not know, a duplicate
    user_rows, direct = online_features(store, [1], candidates)
    rows = held.rows(pd.Series(candidates).to_numpy(), read)
    pd.testing.assert_frame_equal(rows, direct[list(rows.columns)], check_dtype=False)
    pairs = pd.DataFrame({USER_ID: 1, ITEM_ID: candidates, fc.RETRIEVAL_SCORE: 0.3})
    pd.testing.assert_frame_equal(
        ranker_feature_frame(user_rows, rows, pairs), ranker_feature_frame(user_rows, direct, pairs)
    )

    materialize_latest(store, SNAPSHOTS[-1].to_pydatetime())
    assert materialization_signature(store) != first
    reloaded = ItemFeatures.load(read, item_entity_ids(store), materialization_signature(store))
    assert reloaded.rows([10]).loc[10, fc.ITEM_EVENTS_ALL] == 3
    assert held.rows([10]).loc[10, fc.ITEM_EVENTS_ALL] == 2  # the first snapshot's count
