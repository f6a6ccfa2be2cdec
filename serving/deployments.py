"""The Retrieval, Ranking and Reranking deployments: a few lines each around plain functions.

``__init__`` loads (through ``serving.runtime``), ``reconfigure`` takes the live options
(``user_config``), request methods call one function. Retrieval and Ranking keep their runtime
in a ``HotSwap`` whose thread notices a moved champion alias and swaps in the new models.
Their request methods are ``@serve.batch``: concurrent requests to a replica are served by one
call (one Milvus search, one tower forward, one XGBoost prediction); the batch size and wait
are live options (``max_batch_size``, ``batch_wait_timeout_s``).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from ray import serve

from components.recommend.candidates import CandidatePool, Query
from components.recommend.event_tail import EventTail
from components.recommend.request import Similar
from components.recommend.results import Recommendations, finalize
from serving.config import (
    BATCH_WAIT_S,
    MAX_BATCH_SIZE,
    RankingOptions,
    RerankingOptions,
    RetrievalOptions,
    ServeArgs,
)
from serving.refresh import HotSwap
from serving.runtime import (
    RankingRuntime,
    RetrievalRuntime,
    load_ranking_runtime,
    load_retrieval_runtime,
    remove_scratch,
    replica_scratch,
    runtime_degraded,
)


def _set_batching(method: Any, options: RetrievalOptions | RankingOptions) -> None:
    method.set_max_batch_size(options.max_batch_size)
    method.set_batch_wait_timeout_s(options.batch_wait_timeout_s)


def _status(hot: HotSwap, described: dict[str, Any]) -> dict[str, Any]:
    return {**described, "swaps": hot.swaps, "refresh_error": hot.last_error}


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=32)
class Retrieval:
    def __init__(self, args: ServeArgs) -> None:
        self._options = args.retrieval
        self._scratch = replica_scratch(args, "retrieval")
        self._hot = HotSwap(
            "retrieval",
            build=lambda previous: load_retrieval_runtime(args, previous, self._scratch),
            is_stale=RetrievalRuntime.is_stale,
            retire=RetrievalRuntime.retire,
            interval_s=self._options.refresh_interval_s,
            retire_after_s=self._options.retire_after_s,
            degraded=runtime_degraded,
        )
        self._hot.start()
        self._events = EventTail(args.event_log_dir)
        self._stop = threading.Event()
        threading.Thread(target=self._tail_events, name="event-tail", daemon=True).start()

    def _tail_events(self) -> None:
        while not self._stop.wait(self._options.seen_poll_s):
            self._events.poll()

    def reconfigure(self, config: dict[str, Any]) -> None:
        self._options = RetrievalOptions.model_validate(config)
        self._hot.interval_s = self._options.refresh_interval_s
        self._hot.retire_after_s = self._options.retire_after_s
        _set_batching(self.retrieve, self._options)

    @serve.batch(max_batch_size=MAX_BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_S)
    async def retrieve(self, queries: list[Query], aliases: list[str]) -> list[CandidatePool]:
        """Called with one query and alias; Serve gathers concurrent calls into lists."""
        recent = [self._events.seen(query.user_id) for query in queries]
        return self._hot.current.recommend(self._options, queries, aliases, recent)

    def similar(self, item_id: int, k: int) -> Similar | None:
        return self._hot.current.similar(item_id, k)

    def known_items(self, item_ids: list[int]) -> list[int]:
        return self._hot.current.known_items(item_ids)

    def catalog_ids(self) -> np.ndarray:
        return self._hot.current.catalog_ids()

    def refresh(self) -> bool:
        """Check the aliases now instead of at the next tick (operators, tests)."""
        return self._hot.refresh()

    def status(self) -> dict[str, Any]:
        return _status(self._hot, self._hot.current.describe())

    def __del__(self) -> None:
        if hasattr(self, "_stop"):
            self._stop.set()
        if hasattr(self, "_hot"):
            self._hot.stop()
        remove_scratch(getattr(self, "_scratch", None))


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=32)
class Ranking:
    def __init__(self, args: ServeArgs) -> None:
        self._scratch = replica_scratch(args, "ranking")
        self._hot = HotSwap(
            "ranking",
            build=lambda previous: load_ranking_runtime(args, previous, self._scratch),
            is_stale=RankingRuntime.is_stale,
            retire=RankingRuntime.retire,
            interval_s=args.ranking.refresh_interval_s,
            retire_after_s=args.retrieval.retire_after_s,
            degraded=runtime_degraded,
        )
        self._hot.start()

    def reconfigure(self, config: dict[str, Any]) -> None:
        options = RankingOptions.model_validate(config)
        self._hot.interval_s = options.refresh_interval_s
        _set_batching(self.rank, options)

    @serve.batch(max_batch_size=MAX_BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_S)
    async def rank(self, pools: list[CandidatePool], aliases: list[str]) -> list[CandidatePool]:
        """Called with one pool and alias; Serve gathers concurrent calls into lists."""
        return self._hot.current.rank(pools, aliases)

    def refresh(self) -> bool:
        return self._hot.refresh()

    def status(self) -> dict[str, Any]:
        return _status(self._hot, self._hot.current.describe())

    def __del__(self) -> None:
        if hasattr(self, "_hot"):
            self._hot.stop()
        remove_scratch(getattr(self, "_scratch", None))


@serve.deployment(ray_actor_options={"num_cpus": 0.1}, max_ongoing_requests=64)
class Reranking:
    def __init__(self) -> None:
        self._options = RerankingOptions()

    def reconfigure(self, config: dict[str, Any]) -> None:
        self._options = RerankingOptions.model_validate(config)

    def rerank(
        self,
        pool: CandidatePool,
        query: Query,
        mmr_lambda: float | None = None,
        category_cap: int | None = None,
    ) -> Recommendations:
        return finalize(
            pool,
            query,
            self._options.mmr_lambda if mmr_lambda is None else mmr_lambda,
            self._options.category_cap if category_cap is None else category_cap,
        )
