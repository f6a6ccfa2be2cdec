"""Where one POST /v1/recommend spends its time: every call of the request path, timed in-process.

    PYTHONPATH=. .venv/bin/python benchmarks/profile_request.py --state-dir /tmp/state \\
        --requests 200 --users 200

Loads the Retrieval and Ranking runtimes the deployments would hold (``serving.runtime``
loaders, same models, index, tables and online store; no Ray), then runs N requests through the
plain request functions (``components.recommend.request``, ``results.finalize``) with each
collaborator wrapped in a timer: online reads, tower forward, ANN search, co-visitation,
popularity, item vectors, feature frame, XGBoost, re-ranking, and the serialization a hop and the
HTTP answer cost (pickle of the candidate pool, the response model's JSON). What it does not see
is Ray itself: Serve's proxy, the handle hops and the scheduling between replicas (the benchmark
``serving_latency.py`` measures those against a pass-through app). Prints a markdown table of
mean / p50 / p99 ms per stage.
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import components.recommend.scoring as scoring
from components.recommend import request
from components.recommend.candidates import Query
from components.recommend.experiment import CHAMPION_ALIAS
from components.recommend.request import recommend_candidates
from components.recommend.results import finalize
from components.retrieval.exact import ExactIndex
from components.settings import Settings
from serving.config import ServeArgs
from serving.runtime import limit_threads, load_ranking_runtime, load_retrieval_runtime
from serving.schemas import RecommendedItem, RecommendResponse
from serving.scratch import replica_scratch

Timings = dict[str, list[float]]


class Timer:
    """Accumulates seconds per stage for the current request."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self.runs: Timings = defaultdict(list)

    def wrap(self, stage: str | Callable[..., str], call: Callable[..., Any]) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                name = stage(*args, **kwargs) if callable(stage) else stage
                self.current[name] += time.perf_counter() - started

        return timed

    def close_request(self) -> None:
        for name, seconds in self.current.items():
            self.runs[name].append(seconds)
        self.current = defaultdict(float)


def _read_stage(store: Any, users: Any, items: Any) -> str:
    return "online read: user row" if len(users) and not len(items) else "online read: items"


def instrument(timer: Timer, retrieval: Any, ranking: Any) -> tuple[Any, Any]:
    """Wrap each collaborator the request functions call; returns (read_features, search)."""
    request.online_features = timer.wrap(_read_stage, request.online_features)
    read = retrieval.read_features  # through the user cache, as the replica reads
    search = retrieval.searches.get(CHAMPION_ALIAS)
    if search is not None:
        exact = isinstance(getattr(search, "__self__", None), ExactIndex)
        label = "item search (exact, in replica)" if exact else "ANN search (Milvus)"
        search = timer.wrap(label, search)
    sources = retrieval.sources
    sources.covisited = timer.wrap("co-visitation", sources.covisited)
    sources.popular = timer.wrap("popularity", sources.popular)
    sources.seen_items = timer.wrap("seen items (tables)", sources.seen_items)
    tower = retrieval.towers.champion
    if tower is not None:
        model = tower.model.model
        model.user_embeddings = timer.wrap("user tower forward", model.user_embeddings)
        tower.model.vectors = timer.wrap("item vectors (lookup)", tower.model.vectors)
    ranker = ranking.rankers.champion
    if ranker is not None:
        # Every served score goes through the heads' probabilities (``score`` and ``explain``).
        ranker.model.probabilities = timer.wrap("XGBoost predict", ranker.model.probabilities)
    scoring.ranker_matrix = timer.wrap("feature frame", scoring.ranker_matrix)
    items = getattr(ranking, "item_features", None)
    if items is not None:  # features held by the Ranking replica (bulk arrays)
        items.rows = timer.wrap("item features (held arrays)", items.rows)
        if items.matrix is not None:  # frozen: set past the dataclass guard
            object.__setattr__(
                items.matrix,
                "ranker_matrix",
                timer.wrap("feature matrix (held item side, numpy)", items.matrix.ranker_matrix),
            )
    return read, search


def _hop(value: Any) -> Any:
    """What a handle hop does to its payload (Ray pickles it into the object store)."""
    return pickle.loads(pickle.dumps(value))


def response(result: Any) -> bytes:
    return RecommendResponse(
        user_id=result.user_id,
        items=[
            RecommendedItem(
                item_id=i.item_id, score=i.score, reason=i.reason, source=i.source, title=i.title
            )
            for i in result.items
        ],
        experiment="profile",
        variant="control",
        model_versions=result.versions,
        ranked_by=result.ranked_by,
        degraded=result.degraded,
        fallbacks=result.fallbacks,
        cold_start=result.cold_start,
    ).model_dump_json()


def profile(args: ServeArgs, users: list[int], requests: int, k: int) -> Timings:
    limit_threads(args.replica_threads)  # as the replicas do
    retrieval = load_retrieval_runtime(args, None, replica_scratch(args, "profile-retrieval"))
    ranking = load_ranking_runtime(args, None, replica_scratch(args, "profile-ranking"))
    problems = {**retrieval.problems, **ranking.problems}
    if problems:
        print(
            f"runtime problems (the profile shows the degraded path): {problems}", file=sys.stderr
        )
    timer = Timer()
    read, search = instrument(timer, retrieval, ranking)
    options = args.retrieval
    for n in range(requests):
        query = Query(user_id=users[n % len(users)], k=k)
        started = whole = time.perf_counter()
        pool = recommend_candidates(
            query,
            retrieval.sources,
            tower=retrieval.towers.champion,
            search=search,
            read_features=read,
            tables_degraded=retrieval.tables_origin.degraded,
            n_ann=options.n_ann,
            n_covisit=options.n_covisit,
            n_popular=options.n_popular,
        )
        timer.current["= Retrieval total"] = time.perf_counter() - started
        timer.wrap("pickle pool (hop to Ranking)", _hop)(pool)
        started = time.perf_counter()
        pool = ranking.rank([pool], [CHAMPION_ALIAS])[0]
        result = timer.wrap("rerank: rules + MMR + reasons (in Ranking)", finalize)(
            pool, query, args.ranking.mmr_lambda, args.ranking.category_cap
        )
        timer.current["= Ranking total (re-ranking included)"] = time.perf_counter() - started
        timer.wrap("pickle answer (hop to the ingress)", _hop)(result)
        timer.wrap("response JSON", response)(result)
        timer.current["= whole request (in-process)"] = time.perf_counter() - whole
        timer.close_request()
    return timer.runs


def table(runs: Timings, requests: int) -> str:
    """Mean / p50 / p99 ms per stage; a stage absent from some requests counts 0 there."""
    lines = [
        "| stage | calls/request | mean ms | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in sorted(runs, key=lambda n: (n.startswith("="), n)):
        ms = np.zeros(requests)
        values = np.asarray(runs[name]) * 1000
        if not len(values):  # timed during warm-up only (or never called): not in this path
            continue
        ms[: len(values)] = values
        lines.append(
            f"| {name} | {len(values) / requests:.2f} | {ms.mean():.2f} "
            f"| {np.percentile(ms, 50):.2f} | {np.percentile(ms, 99):.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, default=None, help="default: RECO_STATE_DIR")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--users", type=int, default=200, help="distinct user ids 1..N")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--exact-max-items",
        type=int,
        default=None,
        help="ServeArgs.exact_search_max_items (0 = always Milvus); default: the setting's",
    )
    options = parser.parse_args(argv)

    settings = Settings(**({"state_dir": options.state_dir} if options.state_dir else {}))
    overrides: dict[str, Any] = {"prediction_log_dir": None, "event_log_dir": None}
    if options.exact_max_items is not None:
        overrides["exact_search_max_items"] = options.exact_max_items
    args = ServeArgs.from_settings(settings, **overrides)
    pseudonymize = settings.user_ids()  # the runtime takes internal ids, as the ingress passes
    users = [pseudonymize(u) for u in range(1, options.users + 1)]
    runs = profile(args, users, options.warmup + options.requests, options.k)
    measured = {name: values[options.warmup :] for name, values in runs.items()}
    print(
        f"{time.strftime('%Y-%m-%d')}, {platform.system()} {platform.machine()} "
        f"({os.cpu_count()} CPUs), {options.requests} requests after {options.warmup} warm-up, "
        f"{len(users)} users, k={options.k}\n"
    )
    print(table(measured, options.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
