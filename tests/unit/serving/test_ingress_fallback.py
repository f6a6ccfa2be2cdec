"""The ingress's path through the graph with fake handles (no Ray): when ranking fails (or times
out), the answer is retrieval's pool re-ranked in retrieval order and marked degraded; when
nothing answers in time, a retryable 503 with Retry-After."""

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
from serving.config import RankingOptions

VARIANT = Variant(name="control", model_alias="challenger", mmr_lambda=1.0)
QUERY = Query(user_id=1, k=4)


class Response:
    """Like a DeploymentResponse: computed once, awaitable, and resolved when passed on."""

    def __init__(self, compute, delay_s: float = 0.0) -> None:
        self._compute = compute
        self._outcome = None
        self._delay_s = delay_s
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

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
        yield from asyncio.sleep(self._delay_s).__await__()
        return self.result()


class Method:
    def __init__(self, function, delay_s: float = 0.0) -> None:
        self.function = function
        self.delay_s = delay_s
        self.calls: list[tuple] = []
        self.responses: list[Response] = []

    def remote(self, *args):
        self.calls.append(args)
        resolved = lambda: [a.result() if isinstance(a, Response) else a for a in args]  # noqa: E731
        self.responses.append(Response(lambda: self.function(*resolved()), self.delay_s))
        return self.responses[-1]


class Handle:
    def __init__(self, delay_s: float = 0.0, **methods) -> None:
        for name, function in methods.items():
            setattr(self, name, Method(function, delay_s))


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


def reverse_ranker(pool, alias, query, mmr_lambda, category_cap):
    """Scores the pool in reverse retrieval order, so ranked and unranked answers differ, then
    re-ranks it (as the Ranking replica does)."""
    pool.scores = pool.retrieval_ranks.astype(np.float64)
    pool.versions["reco-ranker"] = "1"
    return finalize(pool, query, mmr_lambda, category_cap)


DEFAULTS = RankingOptions(mmr_lambda=0.8, category_cap=3)


def run(retrieval, ranking, timeout_s: float = 5.0, variant: Variant = VARIANT):
    return asyncio.run(
        recommend_through(retrieval, ranking, QUERY, variant, DEFAULTS, timeout_s, 7)
    )


def test_the_graph_answers_in_ranker_order_when_every_stage_works(retrieval):
    ranking = Handle(rank=reverse_ranker)
    result = run(retrieval, ranking)
    assert retrieval.retrieve.calls == [(QUERY, "challenger")]
    assert ranking.rank.calls[0][1:] == ("challenger", QUERY, 1.0, None)  # the variant's
    assert not result.degraded and result.versions == {"reco-ranker": "1"}
    assert [i.score for i in result.items] == sorted(i.score for i in result.items)[::-1]
    ranked_ids = [i.item_id for i in result.items]
    unranked = run(retrieval, Handle(rank=fail))
    assert [i.item_id for i in unranked.items] != ranked_ids


def test_ranking_down_answers_from_retrieval_order_marked_degraded(retrieval):
    result = run(retrieval, Handle(rank=fail))
    assert len(retrieval.retrieve.calls) == 1  # retrieval's pool is reused, not fetched again
    assert result.degraded and result.fallbacks == [FALLBACK_RANKER]
    assert len(result.items) == QUERY.k and "reco-ranker" not in result.versions
    pool = retrieval.retrieve.function(QUERY, "challenger")
    eligible = [i for i in pool.item_ids.tolist() if i not in (1, 2, 3)]
    assert [i.item_id for i in result.items] == eligible[: QUERY.k]  # retrieval order


def test_the_fallback_takes_the_defaults_where_the_variant_sets_none(retrieval):
    plain = Variant(name="plain", model_alias="champion")
    result = run(retrieval, Handle(rank=fail), variant=plain)
    pool = retrieval.retrieve.function(QUERY, "champion")
    expected = finalize(pool, QUERY, DEFAULTS.mmr_lambda, DEFAULTS.category_cap)
    assert [i.item_id for i in result.items] == [i.item_id for i in expected.items]


def test_a_ranking_stage_past_the_timeout_is_cancelled_and_retrieval_answers(retrieval):
    slow = Handle(delay_s=0.5, rank=reverse_ranker)
    result = run(retrieval, slow, timeout_s=0.1)
    assert slow.rank.responses[0].cancelled
    assert result.fallbacks == [FALLBACK_RANKER] and len(result.items) == QUERY.k


def test_nothing_to_serve_from_is_a_retryable_503(retrieval):
    with pytest.raises(HTTPException) as raised:
        run(Handle(retrieve=fail), Handle(rank=reverse_ranker))
    assert raised.value.status_code == 503
    assert raised.value.headers == {"Retry-After": "7"}


def test_a_graph_past_the_timeout_is_a_retryable_503(retrieval):
    slow = Handle(delay_s=0.5, retrieve=retrieval.retrieve.function)
    ranking = Handle(delay_s=0.5, rank=reverse_ranker)
    with pytest.raises(HTTPException) as raised:
        run(slow, ranking, timeout_s=0.1)
    assert raised.value.status_code == 503 and raised.value.headers["Retry-After"] == "7"
    assert slow.retrieve.responses[0].cancelled and ranking.rank.responses[0].cancelled


def test_the_retryable_503_and_its_retry_after_are_in_the_openapi_schema():
    from serving.app import api

    answer = api.openapi()["paths"]["/v1/recommend"]["post"]["responses"]["503"]
    assert answer["headers"]["Retry-After"]["schema"] == {"type": "integer"}


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
