"""The replicas' runtimes as composition: the refresh guard, the tables origin, staleness and
retirement, with fake models and a fake index reader (no Ray, no MLflow, no Milvus)."""

from pathlib import Path

import pytest

from components.recommend.models import AliasModels, ModelLoader
from components.registry import ModelRef
from serving.runtime import (
    RankingRuntime,
    RetrievalRuntime,
    TablesFrom,
    TablesOrigin,
    _refuse_regression,
)


class Registry:
    def __init__(self, version: str) -> None:
        self.version = version

    def resolve(self, name: str, aliases: tuple[str, ...]) -> dict[str, ModelRef]:
        return {"champion": ModelRef(name, "champion", self.version)}

    def download(self, ref: ModelRef, destination: Path) -> Path:
        destination.mkdir(parents=True)
        return destination


class Reader:
    closed = False

    def close(self) -> None:
        self.closed = True


def models(registry: Registry, tmp_path: Path) -> AliasModels:
    loader = ModelLoader(
        "m", ("champion",), registry, load=lambda folder: object(), scratch=tmp_path
    )
    return AliasModels.load(loader)


def test_a_refresh_that_loses_a_part_is_refused():
    _refuse_regression(None, {"ranker": "none"})  # first load: fine
    _refuse_regression({"ranker": "x"}, {})  # a part came back
    with pytest.raises(RuntimeError, match="keeping the current runtime"):
        _refuse_regression({}, {"online_store": "down"})
    with pytest.raises(RuntimeError, match="keeping the current runtime"):
        _refuse_regression({"ranker": "x"}, {"ranker": "x", "milvus": "busy"})
    # The registry came back (models load), and Milvus, tried for the first time, is missing.
    _refuse_regression(
        {"retrieval_model": "x", "online_store": "y"}, {"online_store": "y", "milvus": "z"}
    )


def test_tables_origin_says_whether_real_tables_are_served():
    run = TablesOrigin(TablesFrom.RUN, "abc")
    assert str(run) == "run:abc" and not run.degraded
    assert not TablesOrigin(TablesFrom.PATH, "/t").degraded
    assert str(TablesOrigin(TablesFrom.DERIVED)) == "derived"
    assert TablesOrigin(TablesFrom.DERIVED).degraded and TablesOrigin(TablesFrom.NONE).degraded
    assert run == TablesOrigin(TablesFrom.RUN, "abc") != TablesOrigin(TablesFrom.RUN, "def")


def test_runtimes_are_stale_when_an_alias_moves_or_a_part_is_missing(tmp_path):
    registry = Registry("1")
    ranking = RankingRuntime(rankers=models(registry, tmp_path))
    assert not ranking.is_stale() and ranking.describe()["ready"] is True
    registry.version = "2"
    assert ranking.is_stale()
    registry.version = "1"
    assert RankingRuntime(rankers=ranking.rankers, problems={"online_store": "x"}).is_stale()
    retrieval = RetrievalRuntime(
        towers=ranking.rankers, tables_origin=TablesOrigin(TablesFrom.RUN, "r")
    )
    status = retrieval.describe()
    assert status["tables"] == "run:r" and status["ready"] is False  # no catalog loaded
    with pytest.raises(RuntimeError, match="no catalog"):
        retrieval.known_items([1])
    assert retrieval.similar(1, 3) is None


def test_retiring_a_runtime_closes_only_what_the_new_one_does_not_use(tmp_path):
    registry = Registry("1")
    towers = models(registry, tmp_path)
    shared, replaced = Reader(), Reader()
    old = RetrievalRuntime(towers=towers, reader=shared)
    old.retire(RetrievalRuntime(towers=towers, reader=shared))
    assert not shared.closed and towers.champion.folder.exists()
    registry.version = "2"
    newer = RetrievalRuntime(towers=towers.refresh(), reader=replaced)
    old.retire(newer)
    assert shared.closed and not replaced.closed
    assert not towers.champion.folder.exists() and newer.towers.champion.folder.exists()


class Materializations:
    """Stands in for the Feast store: which materialization it is at, whether reads work."""

    def __init__(self) -> None:
        self.signature = "1:a"
        self.failing = False

    def signature_of(self, store) -> str:
        return self.signature

    def ids(self, store):
        if self.failing:
            raise ConnectionError("online store down")
        return [1, 2, 3]


def test_item_features_reload_on_materialization_and_a_failed_reload_keeps_the_old_rows(
    tmp_path, monkeypatch
):
    import serving.runtime as runtime_module

    state = Materializations()
    monkeypatch.setattr(runtime_module, "materialization_signature", state.signature_of)
    monkeypatch.setattr(runtime_module, "item_entity_ids", state.ids)
    monkeypatch.setattr(runtime_module, "store_reader", lambda store: fake_read)
    store = object()
    problems: dict[str, str] = {}
    first = runtime_module.load_item_features(store, None, problems)
    assert first is not None and len(first) == 3 and first.signature == "1:a" and not problems
    assert runtime_module.load_item_features(store, first, problems) is first  # unchanged
    ranking = RankingRuntime(
        rankers=models(Registry("1"), tmp_path), store=store, item_features=first
    )
    assert not ranking.is_stale()
    state.signature = "2:b"  # the store was re-materialized
    assert ranking.is_stale()
    state.failing = True
    kept = runtime_module.load_item_features(store, first, problems)
    assert kept is first
    assert "keeping the rows of materialization 1:a" in problems["item_features"]
    ranking = RankingRuntime(
        rankers=ranking.rankers, store=store, item_features=kept, problems=problems
    )
    assert ranking.describe()["problems"]["item_features"].startswith("reload failed")
    assert ranking.describe()["item_features"]["materialization"] == "1:a"
    assert ranking.is_stale()  # retried at the next check
    state.failing = False
    fresh = runtime_module.load_item_features(store, kept, {})
    assert fresh is not first and fresh.signature == "2:b"


def fake_read(users, items):
    import pandas as pd

    from components.features.store import FOUND

    frame = pd.DataFrame(
        {"item_events_30d": [float(i) for i in items], FOUND: True},
        index=pd.Index(list(items), name="item_id", dtype="int64"),
    )
    return pd.DataFrame(), frame


def _serve_args(tmp_path, **options):
    """Arguments with every endpoint pointing nowhere real, plus the options under test."""
    from serving.config import ServeArgs

    endpoints = {
        "mlflow_uri": "file:///nowhere",
        "retrieval_model": "m",
        "ranker_model": "r",
        "milvus_uri": str(tmp_path / "m.db"),
        "milvus_token": None,
        "milvus_alias": "a",
        "feast_repo": tmp_path,
        "feast_online_store": None,
        "feast_project": "p",
        "event_log_dir": None,
        "prediction_log_dir": None,
        "scratch_dir": tmp_path,
        # Every field given: none filled from the process's settings (whose erasure list is the
        # developer's own var/ state, which a test writing tombstones must never touch).
        "id_key": "ab" * 32,
        "context_keys": ("device",),
        "erased_users_file": tmp_path / "privacy" / "erased_users.txt",
    }
    return ServeArgs.model_validate({**endpoints, **options})


def test_a_new_retrieval_runtime_starts_with_an_empty_user_cache(tmp_path, monkeypatch):
    import serving.runtime as runtime_module

    args = _serve_args(tmp_path, user_cache_size=7, user_cache_ttl_s=3.0)
    towers = models(Registry("1"), tmp_path)
    monkeypatch.setattr(runtime_module, "_models", lambda *a, **k: towers)
    monkeypatch.setattr(
        runtime_module, "_load_sources", lambda *a: (None, TablesOrigin(TablesFrom.NONE))
    )
    monkeypatch.setattr(runtime_module, "_open_searches", lambda *a: (None, {}))
    previous = runtime_module.load_retrieval_runtime(args, None, tmp_path)
    previous.users.put(1, "row")
    assert previous.users.max_size == 7 and previous.users.ttl_s == 3.0
    assert previous.describe()["user_cache"]["size"] == 1
    fresh = runtime_module.load_retrieval_runtime(args, previous, tmp_path)
    assert len(fresh.users) == 0 and fresh.users.get(1) is None


def test_a_new_ranking_runtime_starts_with_an_empty_anonymous_cache(tmp_path, monkeypatch):
    import serving.runtime as runtime_module

    args = _serve_args(tmp_path, anonymous_cache_size=5, anonymous_cache_ttl_s=9.0)
    rankers = models(Registry("1"), tmp_path)
    monkeypatch.setattr(runtime_module, "_models", lambda *a, **k: rankers)
    monkeypatch.setattr(runtime_module, "_reuse_or_open_store", lambda *a: None)
    previous = runtime_module.load_ranking_runtime(args, None, tmp_path)
    previous.anonymous.put("segment", "scores")
    assert (previous.anonymous.max_size, previous.anonymous.ttl_s) == (5, 9.0)
    assert previous.describe()["anonymous_cache"]["size"] == 1
    fresh = runtime_module.load_ranking_runtime(args, previous, tmp_path)
    assert len(fresh.anonymous) == 0


class FakeMilvus:
    def __init__(self) -> None:
        self.upserts: list[tuple[str, list[dict]]] = []

    def list_aliases(self):
        return {"aliases": ["items"]}

    def describe_alias(self, alias):
        return {"collection_name": "items_run1"}

    def upsert(self, collection, rows):
        self.upserts.append((collection, rows))
        return {"upsert_count": len(rows)}


def test_catalog_updates_reach_the_catalog_and_the_searched_index_once(tmp_path):
    import numpy as np
    import pandas as pd

    from components.data.columns import AVAILABLE, CATEGORIES, ITEM_ID, TITLE
    from components.recommend.catalog import (
        Catalog,
        CatalogItem,
        append_catalog_updates,
        catalog_frame,
    )
    from components.recommend.models import Loaded
    from components.recommend.sources import CandidateSources
    from components.recommend.tables import SCORE
    from components.retrieval.reader import IndexReader

    class Model:
        added: dict[int, list[str]] = {}

        def add_items(self, ids, categories):
            self.added.update(zip(ids.tolist(), categories, strict=True))

    class Vectors:
        def __call__(self, ids):
            return np.ones((len(ids), 4), dtype=np.float32)

    tower = type("Tower", (), {"model": Model(), "vectors": Vectors()})()
    towers = AliasModels(None, {"champion": Loaded(ModelRef("m", "champion", "1"), tower)})  # type: ignore[arg-type]
    items = pd.DataFrame({ITEM_ID: [1, 2], TITLE: "", CATEGORIES: "A", AVAILABLE: True})
    sources = CandidateSources(Catalog.from_items(items), items[[ITEM_ID]].assign(**{SCORE: 1.0}))
    milvus = FakeMilvus()
    runtime = RetrievalRuntime(
        towers=towers,
        sources=sources,
        collections={"champion": "items"},
        reader=IndexReader(milvus, "x", "x"),
    )
    assert not runtime.refresh_catalog(tmp_path)  # nothing yet
    append_catalog_updates(
        tmp_path,
        catalog_frame(
            [
                CatalogItem(item_id=7, title="new", categories=["B", "C"]),
                CatalogItem(item_id=2, available=False),
            ]
        ),
    )
    assert runtime.refresh_catalog(tmp_path)
    assert runtime.known_items([7, 2, 99]) == [7, 2] or set(runtime.known_items([7, 2, 99])) == {
        7,
        2,
    }
    assert runtime.sources.catalog.is_available([7, 2]).tolist() == [True, False]
    assert tower.model.added[7] == ["B", "C"]
    ((collection, rows),) = milvus.upserts
    assert collection == "items_run1"  # the alias' collection
    assert [(r[ITEM_ID], r[AVAILABLE], r[CATEGORIES]) for r in rows] == [
        (7, True, ["B", "C"]),
        (2, False, ["A"]),  # categories not given: kept
    ]
    assert not runtime.refresh_catalog(tmp_path)  # merged once
    assert len(milvus.upserts) == 1
    append_catalog_updates(tmp_path, catalog_frame([CatalogItem(item_id=7, available=False)]))
    assert runtime.refresh_catalog(tmp_path)
    assert [(r[ITEM_ID], r[AVAILABLE]) for r in milvus.upserts[-1][1]] == [
        (7, False)
    ]  # the change only
    assert not runtime.sources.catalog.is_available([7])[0]


def test_live_feedback_drops_the_replicas_cached_rows_of_those_users(tmp_path):
    import pandas as pd

    from components.data.columns import EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID
    from components.features.columns import USER_RECENT_ITEMS
    from components.recommend.cache import BoundedCache

    written: list[pd.DataFrame] = []

    class Rows:
        def read(self, user_ids):
            return {}

        def write(self, frame):
            written.append(frame)

    runtime = RetrievalRuntime(towers=models(Registry("1"), tmp_path), users=BoundedCache(10, 60))
    runtime.users.put(7, "cached row")
    runtime.users.put(8, "cached row")
    events = pd.DataFrame(
        {USER_ID: [7], ITEM_ID: [3], EVENT_TYPE: ["click"], TIMESTAMP: [pd.Timestamp.now(tz="UTC")]}
    )
    result = runtime.apply_live(events, BoundedCache(10, 60), rows=Rows())
    assert result.users == [7] and written[0][USER_RECENT_ITEMS].tolist() == [[3]]
    assert runtime.users.get(7) is None and runtime.users.get(8) == "cached row"
    with pytest.raises(RuntimeError, match="no online store"):
        runtime.apply_live(events, BoundedCache(10, 60))


def test_erased_users_leave_the_served_seen_table_at_load_and_on_refresh(tmp_path, monkeypatch):
    import pandas as pd

    import serving.runtime as runtime_module
    from components.data.columns import EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID
    from components.privacy.erasure import add_tombstone
    from components.privacy.ids import UserIds
    from components.recommend.sources import CandidateSources
    from components.recommend.tables import build_serving_tables

    args = _serve_args(tmp_path, user_cache_size=10, user_cache_ttl_s=60.0)
    users = UserIds(bytes.fromhex(args.id_key))
    erased_file = args.erased_users_file  # a fake list: tombstones written by hand
    day = pd.Timestamp("2024-03-01", tz="UTC")
    interactions = pd.DataFrame(
        [(5, 1, "click", day), (6, 2, "click", day), (7, 3, "view", day)],
        columns=[USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP],
    )
    items = pd.DataFrame({ITEM_ID: [1, 2, 3]})
    tables = build_serving_tables(interactions, items)
    add_tombstone(erased_file, users.tombstone(5))
    monkeypatch.setattr(runtime_module, "_models", lambda *a, **k: models(Registry("1"), tmp_path))
    monkeypatch.setattr(
        runtime_module,
        "_load_sources",
        lambda *a: (CandidateSources.from_tables(tables), TablesOrigin(TablesFrom.PATH, "t")),
    )
    monkeypatch.setattr(runtime_module, "_open_searches", lambda *a: (None, {}))

    runtime = runtime_module.load_retrieval_runtime(args, None, tmp_path)
    assert runtime.sources.seen_items(5).size == 0  # erased before the load
    assert runtime.sources.seen_items(6).tolist() == [2]
    runtime.users.put(6, "cached row")
    assert runtime.refresh_erasures() == 1  # nothing changed: no re-read, same answer

    add_tombstone(erased_file, users.tombstone(6))  # another replica erased user 6
    assert runtime.refresh_erasures() == 2
    assert runtime.sources.seen_items(6).size == 0 and runtime.sources.positive_items(6).size == 0
    assert runtime.users.get(6) is None and runtime.describe()["erased_users_hidden"] == 2
    assert runtime.describe()["catalog_items"] == 3  # what /readyz shows an operator
    assert runtime.sources.seen_items(7).tolist() == [3]
    fresh = runtime_module.load_retrieval_runtime(args, runtime, tmp_path)  # new tables too
    assert fresh.erasures is runtime.erasures and fresh.sources.seen_items(6).size == 0
