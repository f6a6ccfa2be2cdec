"""The ingress's path through the graph with fake handles (no Ray): when ranking fails, the
answer is retrieval's pool re-ranked in retrieval order and marked degraded."""

import asyncio

import numpy as np
import pandas as pd
import pytest
from fastapi import HTTPException

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
from components.recommend.candidates import FALLBACK_RANKER, Query, retrieve_candidates
from components.recommend.experiment import Variant
from components.recommend.results import finalize
from components.recommend.sources import CandidateSources
from components.recommend.tables import build_serving_tables
from serving.app import recommend_through

VARIANT = Variant(name="control", model_alias="challenger", mmr_lambda=1.0)
QUERY = Query(user_id=1, k=4)


class Response:
    """Like a DeploymentResponse: computed once, awaitable, and resolved when passed on."""

    def __init__(self, compute) -> None:
        self._compute = compute
        self._outcome = None

    def result(self):
        if self._outcome is None:
            try:
                self._outcome = (True, self._compute())
            except Exception as error:  # noqa: BLE001
                self._outcome = (False, error)
        ok, value = self._outcome
        if not ok:
            raise value
        return value

    def __await__(self):
        yield from asyncio.sleep(0).__await__()
        return self.result()


class Method:
    def __init__(self, function) -> None:
        self.function = function
        self.calls: list[tuple] = []

    def remote(self, *args):
        self.calls.append(args)
        resolved = lambda: [a.result() if isinstance(a, Response) else a for a in args]  # noqa: E731
        return Response(lambda: self.function(*resolved()))


class Handle:
    def __init__(self, **methods) -> None:
        for name, function in methods.items():
            setattr(self, name, Method(function))


def fail(*args):
    raise RuntimeError("replica died")


@pytest.fixture
def retrieval():
    """Retrieval over 8 items in 2 categories; user 1 has seen 1, 2, 3."""
    ids = list(range(1, 9))
    items = pd.DataFrame(
        {
            ITEM_ID: ids,
            TITLE: [f"Item {i}" for i in ids],
            CATEGORIES: ["A", "B"] * 4,
            AVAILABLE: True,
            CREATED_AT: pd.Timestamp("2024-01-01", tz="UTC"),
        }
    )
    day = pd.Timestamp("2024-03-01", tz="UTC")
    events = [(u, i, day + pd.Timedelta(hours=u + i)) for u in (1, 2, 3) for i in (1, 2, 3)]
    events += [(u, 4 + u, day) for u in (2, 3)]
    interactions = pd.DataFrame(events, columns=[USER_ID, ITEM_ID, TIMESTAMP])
    interactions[EVENT_TYPE] = "view"
    sources = CandidateSources.from_tables(build_serving_tables(interactions, items))

    def retrieve(query, alias):
        return retrieve_candidates(
            query,
            sources,
            history=[],  # cold: popularity, no model needed
            seen=[3, 2, 1],
            user_vector=None,
            embed_items=None,
            search=None,
        )

    return Handle(retrieve=retrieve)


def reverse_ranker(pool, alias):
    """Scores the pool in reverse retrieval order, so ranked and unranked answers differ."""
    pool.scores = pool.retrieval_ranks.astype(np.float64)
    pool.versions["reco-ranker"] = "1"
    return pool


def rerank(pool, query, mmr_lambda, category_cap):
    return finalize(pool, query, mmr_lambda, category_cap)


def run(retrieval, ranking, reranking):
    return asyncio.run(recommend_through(retrieval, ranking, reranking, QUERY, VARIANT))


def test_the_graph_answers_in_ranker_order_when_every_stage_works(retrieval):
    ranking = Handle(rank=reverse_ranker)
    result = run(retrieval, ranking, Handle(rerank=rerank))
    assert retrieval.retrieve.calls == [(QUERY, "challenger")]
    assert ranking.rank.calls[0][1] == "challenger"  # the variant's alias at every stage
    assert not result.degraded and result.versions == {"reco-ranker": "1"}
    assert [i.score for i in result.items] == sorted(i.score for i in result.items)[::-1]
    ranked_ids = [i.item_id for i in result.items]
    unranked = run(retrieval, Handle(rank=fail), Handle(rerank=rerank))
    assert [i.item_id for i in unranked.items] != ranked_ids


def test_ranking_down_answers_from_retrieval_order_marked_degraded(retrieval):
    reranking = Handle(rerank=rerank)
    result = run(retrieval, Handle(rank=fail), reranking)
    assert len(retrieval.retrieve.calls) == 1  # retrieval's pool is reused, not fetched again
    assert len(reranking.rerank.calls) == 2
    assert result.degraded and result.fallbacks == [FALLBACK_RANKER]
    assert len(result.items) == QUERY.k and "reco-ranker" not in result.versions
    pool = retrieval.retrieve.function(QUERY, "challenger")
    eligible = [i for i in pool.item_ids.tolist() if i not in (1, 2, 3)]
    assert [i.item_id for i in result.items] == eligible[: QUERY.k]  # retrieval order


def test_nothing_to_serve_from_is_a_503(retrieval):
    with pytest.raises(HTTPException) as raised:
        run(Handle(retrieve=fail), Handle(rank=reverse_ranker), Handle(rerank=rerank))
    assert raised.value.status_code == 503
    with pytest.raises(HTTPException):
        run(retrieval, Handle(rank=fail), Handle(rerank=fail))


def test_feedback_checks_items_against_the_ingress_snapshot_while_retrieval_is_down():
    from components.recommend.known_items import KnownItems
    from serving.app import Ingress

    state = {"down": False}

    def catalog_ids():
        if state["down"]:
            raise RuntimeError("replica died")
        return np.array([1, 2, 3])

    class Self:  # what _known uses of an Ingress: the handle and the snapshot
        _retrieval = Handle(catalog_ids=catalog_ids, known_items=fail)
        _known_items = KnownItems(lambda: Self._retrieval.catalog_ids.remote())

    known = Ingress.func_or_class._known

    async def check():
        assert await known(Self, [1, 9]) == {1}
        state["down"] = True  # Retrieval restarting: the snapshot answers
        assert await known(Self, [2, 3, 4]) == {2, 3}
        assert Self._retrieval.known_items.calls == []  # never asked per request

    asyncio.run(check())


def test_feedback_without_any_catalog_is_a_503():
    from components.recommend.known_items import KnownItems
    from serving.app import Ingress

    class Self:
        _retrieval = Handle(catalog_ids=fail, known_items=fail)
        _known_items = KnownItems(lambda: Self._retrieval.catalog_ids.remote())

    with pytest.raises(HTTPException) as raised:
        asyncio.run(Ingress.func_or_class._known(Self, [1]))
    assert raised.value.status_code == 503
    assert len(Self._retrieval.known_items.calls) == 1  # the snapshot failed: asked directly
