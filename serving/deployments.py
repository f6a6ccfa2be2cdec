"""The Retrieval and Ranking deployments: a few lines each around plain functions.

``__init__`` loads (through ``serving.runtime``), ``reconfigure`` takes the live options
(``user_config``), request methods call one function. Retrieval and Ranking keep their runtime
in a ``HotSwap`` whose thread notices a moved champion alias and swaps in the new models.
Their request methods are ``@serve.batch``: concurrent requests to a replica are served by one
call (one Milvus search, one tower forward, one XGBoost prediction); the batch size and wait
are live options (``max_batch_size``, ``batch_wait_timeout_s``). Ranking re-ranks what it scored
(rules, MMR, reasons: ``results.finalize``) and answers the ingress: re-ranking takes 1-4 ms, and
a deployment of its own cost a hop (pickling the pool twice, a handle call) of about as much.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
import pandas as pd
from ray import serve

from components.recommend.cache import BoundedCache
from components.recommend.candidates import CandidatePool, Query
from components.recommend.catalog import updates_signature
from components.recommend.event_tail import EventTail
from components.recommend.live import APPLIED_IDS, APPLIED_IDS_TTL_S, LiveUpdates
from components.recommend.request import Similar
from components.recommend.results import Recommendations, finalize
from serving.config import (
    BATCH_WAIT_S,
    MAX_BATCH_SIZE,
    RankingOptions,
    RetrievalOptions,
    ServeArgs,
)
from serving.refresh import HotSwap
from serving.runtime import (
    RankingRuntime,
    RetrievalRuntime,
    limit_threads,
    load_ranking_runtime,
    load_retrieval_runtime,
    runtime_degraded,
)
from serving.scratch import remove_scratch, replica_scratch

log = logging.getLogger(__name__)


def _set_batching(method: Any, options: RetrievalOptions | RankingOptions) -> None:
    method.set_max_batch_size(options.max_batch_size)
    method.set_batch_wait_timeout_s(options.batch_wait_timeout_s)


def _status(hot: HotSwap, described: dict[str, Any]) -> dict[str, Any]:
    return {**described, "swaps": hot.swaps, "refresh_error": hot.last_error}


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=32)
class Retrieval:
    def __init__(self, args: ServeArgs) -> None:
        limit_threads(args.replica_threads)
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
        self._catalog_updates = args.catalog_updates_dir
        applied_ids = BoundedCache(APPLIED_IDS, APPLIED_IDS_TTL_S)
        self._live = LiveUpdates(lambda events: self._hot.current.apply_live(events, applied_ids))
        self._stop = threading.Event()
        threading.Thread(target=self._tail_events, name="event-tail", daemon=True).start()

    def _tail_events(self) -> None:
        while not self._stop.wait(self._options.seen_poll_s):
            self._events.poll()
            self.refresh_catalog()
            self.refresh_erasures()

    def apply_feedback(self, events: pd.DataFrame) -> bool:
        """Accepted feedback for the online store's user rows, applied by a worker (False: the
        bounded queue was full, the events wait for the next training run). Their items count
        as seen here at once (the other replicas' tails read them within ``seen_poll_s``)."""
        self._events.note(events)
        return self._live.submit(events)

    def refresh_catalog(self) -> bool:
        """Merge new catalog updates now (the admin route; otherwise every ``seen_poll_s``);
        True when this replica serves every update written so far."""
        runtime = self._hot.current
        try:
            runtime.refresh_catalog(self._catalog_updates)
        except Exception as error:  # noqa: BLE001 - retried at the next poll
            log.warning("catalog updates not merged: %s", error)
            return False
        return runtime.catalog_signature == updates_signature(self._catalog_updates)

    def refresh_erasures(self) -> int:
        """Hide users erased since the tables were built (the erasure route; otherwise every
        ``seen_poll_s``); return how many this replica hides."""
        try:
            return self._hot.current.refresh_erasures()
        except Exception as error:  # noqa: BLE001 - retried at the next poll
            log.warning("erasure list not applied: %s", error)
            return 0

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

    def catalog_names(self, item_ids: list[int] | None = None) -> dict[int, str]:
        return self._hot.current.catalog_names(item_ids)

    def catalog_fingerprint(self) -> str:
        return self._hot.current.catalog_fingerprint()

    def refresh(self) -> bool:
        """Check the aliases now instead of at the next tick (operators, tests)."""
        return self._hot.refresh()

    def status(self) -> dict[str, Any]:
        described = self._hot.current.describe()
        return {**_status(self._hot, described), "live_updates": self._live.describe()}

    def __del__(self) -> None:
        if hasattr(self, "_live"):
            self._live.stop()
        if hasattr(self, "_stop"):
            self._stop.set()
        if hasattr(self, "_hot"):
            self._hot.stop()
        remove_scratch(getattr(self, "_scratch", None))


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=32)
class Ranking:
    def __init__(self, args: ServeArgs) -> None:
        limit_threads(args.replica_threads)
        self._options = args.ranking
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
        self._options = RankingOptions.model_validate(config)
        self._hot.interval_s = self._options.refresh_interval_s
        _set_batching(self.rank, self._options)

    @serve.batch(max_batch_size=MAX_BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_S)
    async def rank(
        self,
        pools: list[CandidatePool],
        aliases: list[str],
        queries: list[Query],
        mmr_lambdas: list[float | None],
        category_caps: list[int | None],
    ) -> list[Recommendations]:
        """Called with one pool, alias, query and the variant's re-ranking options (None: the
        live defaults); Serve gathers concurrent calls into lists."""
        ranked = self._hot.current.rank(pools, aliases)
        options = self._options
        return [
            finalize(
                pool,
                query,
                options.mmr_lambda if mmr_lambda is None else mmr_lambda,
                options.category_cap if category_cap is None else category_cap,
            )
            for pool, query, mmr_lambda, category_cap in zip(
                ranked, queries, mmr_lambdas, category_caps, strict=True
            )
        ]

    def refresh(self) -> bool:
        return self._hot.refresh()

    def status(self) -> dict[str, Any]:
        return _status(self._hot, self._hot.current.describe())

    def __del__(self) -> None:
        if hasattr(self, "_hot"):
            self._hot.stop()
        remove_scratch(getattr(self, "_scratch", None))
