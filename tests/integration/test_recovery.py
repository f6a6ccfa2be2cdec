"""Stores missing when a replica starts, then restored: degraded answers, no empty stand-in
created, then full recovery through the refresh loop, without a restart. The replicas' plain
functions (``serving.runtime`` in a ``HotSwap``) with the real stores of the tiny pipeline run:
the MLflow SQLite file, the Feast registry and SQLite online store, the Milvus Lite folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components.recommend.candidates import Query
from components.recommend.results import finalize
from components.settings import Settings

pytestmark = pytest.mark.integration

K = 5


@pytest.fixture
def state(trained_state: Settings, tmp_path: Path) -> Settings:
    """A private copy of the trained state (this test moves its files away and back)."""
    from components.retrieval.reader import folder_lock

    source, root = trained_state.state_dir, tmp_path / "state"
    root.mkdir()
    shutil.copy2(source / "mlflow.db", root / "mlflow.db")
    shutil.copytree(source / "feast", root / "feast")
    shutil.copytree(source / "secrets", root / "secrets")  # the id key: same internal ids
    with folder_lock(source / "milvus.db", timeout_s=30):
        shutil.copytree(
            source / "milvus.db", root / "milvus.db", ignore=shutil.ignore_patterns("LOCK")
        )
    return Settings(state_dir=root, data_dir=root / "data")


def _away(path: Path) -> Path:
    moved = path.with_name(path.name + ".away")
    path.rename(moved)
    return moved


def _answer(retrieval, ranking, user: int):
    query = Query(user_id=user, k=K)
    pools = retrieval.current.recommend(retrieval.current_options, [query], ["champion"])
    return finalize(ranking.current.rank(pools, ["champion"])[0], query, 1.0, K)


def test_missing_stores_at_start_degrade_then_recover_without_a_restart(state, tmp_path):
    from serving.config import ServeArgs
    from serving.refresh import HotSwap
    from serving.runtime import (
        RankingRuntime,
        RetrievalRuntime,
        load_ranking_runtime,
        load_retrieval_runtime,
        runtime_degraded,
    )

    mlflow_db = state.state_dir / "mlflow.db"
    online = state.resolved_feast_repo / "online_store.db"
    milvus = state.state_dir / "milvus.db"
    if not (mlflow_db.is_file() and online.is_file() and milvus.is_dir()):
        pytest.skip("the trained state does not use the embedded stores")
    args = ServeArgs.from_settings(state)
    scratch = tmp_path / "scratch"
    away = {path: _away(path) for path in (mlflow_db, online)}

    def hot(name, load, runtime_class):
        swap = HotSwap(
            name,
            build=lambda previous: load(args, previous, scratch),
            is_stale=runtime_class.is_stale,
            retire=runtime_class.retire,
            degraded=runtime_degraded,
            retire_after_s=0.0,
        )
        swap.current_options = args.retrieval  # what a request passes (the live options)
        return swap

    retrieval = hot("retrieval", load_retrieval_runtime, RetrievalRuntime)
    ranking = hot("ranking", load_ranking_runtime, RankingRuntime)
    try:
        # 1. No registry, no online store: nothing created in their place, both named.
        assert not mlflow_db.exists() and not online.exists()
        assert {"retrieval_model", "online_store"} <= set(retrieval.current.problems)
        assert {"ranker", "online_store"} <= set(ranking.current.problems)
        assert "is missing" in retrieval.current.problems["online_store"]
        assert retrieval.refresh() is False and not mlflow_db.exists()  # retried: still missing
        assert ranking.next_wait_s() == 1.0  # degraded: the next check comes soon

        # 2. The registry is back, Milvus is not: models load, answers degrade to popularity.
        mlflow_db.with_name("mlflow.db.away").rename(mlflow_db)
        milvus_away = _away(milvus)
        assert retrieval.refresh() is True and ranking.refresh() is True
        assert set(retrieval.current.problems) == {"online_store", "milvus"}
        assert set(ranking.current.problems) == {"online_store"}
        assert not milvus.exists()  # no empty Milvus Lite folder either
        result = _answer(retrieval, ranking, user=state.user_ids()(1))
        assert len(result.items) == K and result.degraded
        assert set(result.fallbacks) >= {"milvus", "online_store"}

        # 3. Everything is back: the next checks recover fully, same HotSwap, no restart.
        milvus_away.rename(milvus)
        away[online].rename(online)
        assert retrieval.refresh() is True and ranking.refresh() is True
        assert retrieval.current.problems == {} and ranking.current.problems == {}
        assert ranking.current.item_features is not None and len(ranking.current.item_features)
        result = _answer(retrieval, ranking, user=state.user_ids()(1))
        assert len(result.items) == K and not result.degraded and result.fallbacks == []
        assert "ann" in {item.source for item in result.items}
        assert retrieval.next_wait_s() == retrieval.interval_s  # healthy: regular checks
    finally:
        for runtime in (retrieval.current, ranking.current):
            reader = getattr(runtime, "reader", None)
            if reader is not None:
                reader.close()
