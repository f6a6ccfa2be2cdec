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
