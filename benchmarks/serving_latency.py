"""Latency and throughput of POST /v1/recommend against the real graph, next to a pass-through
Ray Serve app on the same machine (what Serve's HTTP proxy + one FastAPI replica cost alone).

    .venv/bin/python benchmarks/serving_latency.py                      # state from RECO_* / var/
    .venv/bin/python benchmarks/serving_latency.py --state-dir var --source synthetic \\
        --requests 400 --concurrency 1 4 16 --write-docs docs/serving.md
    .venv/bin/python benchmarks/serving_latency.py --batching 1:0 16:0.002   # compare settings

``--batching SIZE:WAIT_S[:RANKING_WAIT_S] ...`` runs the graph once per request-batching setting
of Retrieval and Ranking (``max_batch_size``, ``batch_wait_timeout_s``; Ranking's wait is
Retrieval's unless given), one row group each; the default is the config's.

Each level is measured ``--rounds`` times (default 3), the graph, the empty graph and the
pass-through back to back in every round, so that a ratio compares figures taken under the same
load; the table shows each figure's median over the rounds and each ratio's median with its
range (a single run's p99 ratio at concurrency 1 moved between 2.0x and 3.3x on a quiet machine).

Besides the pass-through, an empty graph (the same route behind two chained handle calls that do
no work, as the ingress makes them) is measured: the floor the graph's shape puts under its
latency. Every answer's ``cold_start`` is counted: users the online store does not know (a
state folder read with another ``RECO_ID_KEY`` than it was trained with) take the cheap
popularity path, and the count says so.

Needs a finished training run in the state folder (``make run`` or ``reco pipeline run``). The
serving tables come from the champion's MLflow run when it has them, else they are built from
``--source`` (the data the pipeline trained on). The load generator (asyncio + httpx, one
connection per concurrent client) runs on the same machine as Ray: on a 2-core box it competes
with the replicas, so the numbers are an upper bound on serving cost, not a capacity plan.
"""

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI
from ray import serve

from components.recommend.tables import build_serving_tables, save_serving_tables
from components.settings import Settings
from serving.app import build, process_handle
from serving.config import ServeArgs
from serving.local import logging_config, start_local_ray, wait_until_ready
from serving.schemas import RecommendBody, RecommendedItem, RecommendResponse

passthrough_api = FastAPI()
EMPTY_GRAPH = "empty graph (two hops, no work)"


def plain_answer(user_id: int | str, k: int) -> RecommendResponse:
    """The pass-through's answer: k placeholder items, no work."""
    return RecommendResponse(
        user_id=user_id,
        items=[
            RecommendedItem(item_id=i + 1, score=0.0, reason="pass-through", source="none")
            for i in range(k)
        ],
        experiment="none",
        variant="none",
        model_versions={},
        ranked_by="retrieval",
        degraded=False,
        fallbacks=[],
        cold_start=False,
    )


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=64)
@serve.ingress(passthrough_api)
class PassThrough:
    """Same route, same request validation and response model; no work in between."""

    @passthrough_api.post("/v1/recommend", response_model=RecommendResponse)
    async def recommend(self, body: RecommendBody) -> RecommendResponse:
        return plain_answer(body.user_id, body.k)


hops_api = FastAPI()


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=32)
class EmptyStage:
    """A stage that does no work: what a handle hop costs alone."""

    async def retrieve(self, body: RecommendBody) -> RecommendBody:
        return body

    async def rank(self, body: RecommendBody) -> int:
        return body.k


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=64)
@serve.ingress(hops_api)
class EmptyGraph:
    """The graph's shape without its work: the pass-through's route and response behind two
    chained handle calls (Ingress -> Retrieval -> Ranking, awaited once), as the real ingress
    makes them. The floor that the shape, not the models, puts under the graph's latency."""

    def __init__(self, retrieval: Any, ranking: Any) -> None:
        self._retrieval, self._ranking = process_handle(retrieval), process_handle(ranking)

    @hops_api.post("/v1/recommend", response_model=RecommendResponse)
    async def recommend(self, body: RecommendBody) -> RecommendResponse:
        k = await self._ranking.rank.remote(self._retrieval.retrieve.remote(body))
        return plain_answer(body.user_id, k)


async def _load(url: str, users: list[int], k: int, total: int, concurrency: int) -> dict:
    """``total`` requests from ``concurrency`` clients, each sending one at a time."""
    latencies: list[float] = []
    errors = cold = 0
    counter = iter(range(total))

    async def client() -> None:
        nonlocal errors, cold
        async with httpx.AsyncClient(timeout=60.0) as http:
            for i in counter:
                body = {"user_id": users[i % len(users)], "k": k}
                started = time.perf_counter()
                response = await http.post(f"{url}/v1/recommend", json=body)
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200
                cold += response.status_code == 200 and response.json()["cold_start"]

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {
        "requests": total,
        "errors": errors,
        "cold_start": cold,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(statistics.fmean(ms)),
        "rps": total / wall,
    }


def warm(url: str, users: list[int], k: int, warmup: int) -> None:
    asyncio.run(_load(url, users, k, warmup, 1))


def measure_level(
    url: str, users: list[int], k: int, total: int, level: int, metrics: str = ""
) -> dict:
    """One concurrency level; with a ``metrics`` URL, also the mean time spent inside each
    deployment (``stages``) and each stage inside Retrieval (``inner``)."""
    before = httpx.get(metrics).text if metrics else ""
    out = asyncio.run(_load(url, users, k, total, level))
    if metrics:
        after = httpx.get(metrics).text
        out["stages"] = stage_means(before, after)
        out["inner"] = stage_means(
            before, after, metric="reco_stage_latency_seconds", label="stage"
        )
    return out


def combine(rounds: list[dict]) -> dict:
    """Rounds of one level as one row: the median round's latencies and throughput (each
    figure's median), counts summed, stage means averaged; the rounds kept for the ratios."""
    row: dict[str, Any] = {
        name: float(np.median([r[name] for r in rounds]))
        for name in ("p50_ms", "p99_ms", "mean_ms", "rps")
    }
    for name in ("requests", "errors", "cold_start"):
        row[name] = sum(r.get(name, 0) for r in rounds)
    for part in ("stages", "inner"):
        names = {n for r in rounds for n in r.get(part, {})}
        if names:
            row[part] = {
                n: float(np.mean([r[part][n] for r in rounds if n in r.get(part, {})]))
                for n in sorted(names)
            }
    row["rounds"] = rounds
    return row


def deployment_totals(
    metrics_text: str, metric: str = "reco_deployment_latency_seconds", label: str = "deployment"
) -> dict[str, tuple[float, float]]:
    """(seconds, requests) per deployment from ``reco_deployment_latency_seconds`` (or per
    stage from ``reco_stage_latency_seconds``, label ``stage``)."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in metrics_text.splitlines():
        for suffix, into in (("_sum", sums), ("_count", counts)):
            prefix = f'{metric}{suffix}{{{label}="'
            if line.startswith(prefix):
                name = line[len(prefix) :].split('"', 1)[0]
                into[name] = float(line.rsplit(" ", 1)[1])
    return {name: (sums[name], counts.get(name, 0.0)) for name in sums}


def stage_means(before: str, after: str, **metric: str) -> dict[str, float]:
    """Mean ms inside each deployment (or stage) for the requests between two /metrics
    snapshots."""
    first, last = deployment_totals(before, **metric), deployment_totals(after, **metric)
    out = {}
    for name, (seconds, count) in last.items():
        seconds0, count0 = first.get(name, (0.0, 0.0))
        if count > count0:
            out[name] = 1000 * (seconds - seconds0) / (count - count0)
    return out


def _tables_dir(source: str | None, tables_dir: Path | None) -> Path | None:
    if tables_dir is not None or source is None:
        return tables_dir
    from components.data.io import load_source

    interactions, items = load_source(source)
    folder = Path(tempfile.mkdtemp(prefix="reco-tables-"))
    return save_serving_tables(build_serving_tables(interactions, items), folder)


def batching_setting(text: str) -> tuple[int, float, float]:
    """``SIZE:WAIT_S[:RANKING_WAIT_S]`` -> (max_batch_size, Retrieval's and Ranking's
    batch_wait_timeout_s; Ranking's is Retrieval's unless given)."""
    size, _, waits = text.partition(":")
    retrieval, _, ranking = waits.partition(":")
    return int(size), float(retrieval or 0), float(ranking or retrieval or 0)


def setting_label(size: int, wait_s: float, ranking_wait_s: float | None = None) -> str:
    if size <= 1:
        return "no batching"
    if ranking_wait_s is None or ranking_wait_s == wait_s:
        return f"batch {size}, wait {wait_s * 1000:g} ms"
    return f"batch {size}, wait {wait_s * 1000:g} ms (Ranking {ranking_wait_s * 1000:g} ms)"


def markdown(
    results: dict[str, dict[int, dict]], context: dict[str, Any], block: str = "benchmark"
) -> str:
    lines = [
        f"<!-- {block}:start -->",
        f"Measured {context['date']} on {context['machine']} ({context['cpus']} CPUs), "
        f"{context['requests']} requests per level after {context['warmup']} warm-up, "
        f"k={context['k']}, {context['users']} distinct users; models: {context['label']}; "
        f"catalog {context['catalog']}. {context.get('rounds', 1)} round(s): in each, every "
        "level measured on the graph, the empty graph and the pass-through back to back; a "
        "figure is its median over the rounds, a ratio the median of the rounds' ratios (their "
        "range in brackets). Load generator on the same machine; 1-min load average before and "
        f"after each round: {context.get('load', 'not recorded')}. Cold-start answers: "
        f"{cold_answers(results)} (users the online store does not know).",
        "",
        "| graph | concurrency | graph p50 ms | graph p99 ms | graph req/s "
        "| pass-through p50 ms | pass-through p99 ms | pass-through req/s "
        "| p50 ratio | p99 ratio | req/s ratio | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    stage_lines = []
    for name, levels in results.items():
        if name == "passthrough":
            continue
        for level, real in levels.items():
            base = paired_base(real, results["passthrough"][level])
            lines.append(f"| {name} | {level} | " + " | ".join(ratios(real, base)) + " |")
            stages = ", ".join(f"{n} {ms:.1f}" for n, ms in real.get("stages", {}).items())
            inner = ", ".join(f"{n} {ms:.2f}" for n, ms in real.get("inner", {}).items())
            inner = f" (stages: {inner})" if inner else ""
            if stages:
                stage_lines.append(f"- {name}, concurrency {level}: {stages}{inner}")
    lines += [
        "",
        "Mean ms inside each deployment per request (`reco_deployment_latency_seconds`; a "
        "batched request counts its whole batch's time):",
        "",
    ]
    lines += stage_lines
    lines.append(f"<!-- {block}:end -->")
    return "\n".join(lines)


def paired_base(real: dict, passthrough: dict) -> dict:
    """The pass-through rounds measured beside ``real``'s rounds (each round carries its own
    under ``pass``), as one row; ``passthrough`` when the rounds do not carry them."""
    rounds = real.get("rounds", [])
    if rounds and all("pass" in r for r in rounds):
        return combine([r["pass"] for r in rounds])
    return passthrough


def cold_answers(results: dict[str, dict[int, dict]]) -> str:
    """``cold of answered`` over the real graph's rows."""
    rows = [
        row
        for name, levels in results.items()
        if name not in ("passthrough", EMPTY_GRAPH)
        for row in levels.values()
    ]
    answered = sum(row["requests"] - row["errors"] for row in rows)
    return f"{sum(row.get('cold_start', 0) for row in rows)} of {answered}"


def _ratio(real: dict, base: dict, of: Any) -> str:
    """Median over paired rounds (graph round i against the pass-through's round i, measured
    back to back), with the range when there was more than one round."""
    pairs = list(zip(real.get("rounds", [real]), base.get("rounds", [base]), strict=True))
    values = sorted(of(r, b) for r, b in pairs)
    text = f"{float(np.median(values)):.1f}x"
    if len(values) > 1:
        text += f" ({values[0]:.1f}-{values[-1]:.1f})"
    return text


def ratios(real: dict, base: dict) -> list[str]:
    """Graph and pass-through figures and their ratios (how many times the pass-through's
    latency, how many times fewer requests per second)."""
    return [
        f"{real['p50_ms']:.1f}",
        f"{real['p99_ms']:.1f}",
        f"{real['rps']:.1f}",
        f"{base['p50_ms']:.1f}",
        f"{base['p99_ms']:.1f}",
        f"{base['rps']:.1f}",
        _ratio(real, base, lambda r, b: r["p50_ms"] / b["p50_ms"]),
        _ratio(real, base, lambda r, b: r["p99_ms"] / b["p99_ms"]),
        _ratio(real, base, lambda r, b: b["rps"] / r["rps"]),
        f"{real['errors'] + base['errors']}",
    ]


def write_docs(path: Path, block: str, name: str = "benchmark") -> None:
    text = path.read_text() if path.exists() else ""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, default=None, help="default: RECO_STATE_DIR")
    parser.add_argument("--source", default="synthetic", help="data for the serving tables")
    parser.add_argument(
        "--label", default="the state folder's champions", help="what was trained, for the docs"
    )
    parser.add_argument("--tables-dir", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds per level (graph, empty graph and pass-through back to back in each); "
        "figures are medians over them, ratios the median of the paired rounds",
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--users", type=int, default=200, help="distinct user ids 1..N")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--write-docs", type=Path, default=None, help="e.g. docs/serving.md")
    parser.add_argument("--access-log", action="store_true", help="Serve's per-request log lines")
    parser.add_argument(
        "--batching",
        type=batching_setting,
        nargs="+",
        default=None,
        help="SIZE:WAIT_S[:RANKING_WAIT_S] request-batching settings to compare (default: the "
        "config's)",
    )
    parser.add_argument(
        "--exact-max-items",
        type=int,
        nargs="+",
        default=None,
        help="ServeArgs.exact_search_max_items values to compare (0 = always Milvus); default: "
        "the setting's",
    )
    parser.add_argument(
        "--docs-block", default="benchmark", help="the <!-- NAME:start/end --> block to replace"
    )
    options = parser.parse_args(argv)

    overrides: dict[str, Any] = {"serve_port": options.port, "serve_host": "127.0.0.1"}
    if options.state_dir is not None:
        overrides["state_dir"] = options.state_dir
    settings = Settings(**overrides)
    tables = _tables_dir(options.source, options.tables_dir)
    args = ServeArgs.from_settings(
        settings,
        tables_dir=tables,
        prediction_log_dir=None,
        event_log_dir=None,
        access_log=options.access_log,
    )
    start_local_ray(settings)
    serve.start(
        http_options={"host": settings.serve_host, "port": settings.serve_port},
        logging_config=logging_config(args),
    )
    base = f"http://{settings.serve_host}:{settings.serve_port}"
    serve.run(
        PassThrough.bind(),
        name="passthrough",
        route_prefix="/passthrough",
        logging_config=logging_config(args),
    )
    serve.run(
        EmptyGraph.bind(EmptyStage.bind(), EmptyStage.bind()),
        name="empty-graph",
        route_prefix="/empty-graph",
        logging_config=logging_config(args),
    )
    users = list(range(1, options.users + 1))
    configured = (
        args.retrieval.max_batch_size,
        args.retrieval.batch_wait_timeout_s,
        args.ranking.batch_wait_timeout_s,
    )
    settings_to_try = [
        (size, wait_s, ranking_wait_s, exact)
        for size, wait_s, ranking_wait_s in options.batching or [configured]
        for exact in options.exact_max_items or [args.exact_search_max_items]
    ]
    results: dict[str, dict[int, dict]] = {}
    status: dict[str, Any] = {}
    load = [os.getloadavg()[0]]
    levels = options.concurrency
    empty_rounds: dict[int, list[dict]] = {level: [] for level in levels}
    plain_rounds: dict[int, list[dict]] = {level: [] for level in levels}
    urls = {"graph": base, "empty": f"{base}/empty-graph", "plain": f"{base}/passthrough"}
    metrics = f"{base}/metrics"
    for size, wait_s, ranking_wait_s, exact in settings_to_try:
        batching = {"max_batch_size": size, "batch_wait_timeout_s": wait_s}
        ranking_batching = {"max_batch_size": size, "batch_wait_timeout_s": ranking_wait_s}
        graph_args = args.model_copy(
            update={
                "retrieval": args.retrieval.model_copy(update=batching),
                "ranking": args.ranking.model_copy(update=ranking_batching),
                "exact_search_max_items": exact,
            }
        )
        serve.run(
            build(graph_args), name="reco", route_prefix="/", logging_config=logging_config(args)
        )
        if not wait_until_ready(base, 300):
            print(httpx.get(f"{base}/readyz").text, file=sys.stderr)
            return 1
        status = httpx.get(f"{base}/readyz").json()["deployments"]["Retrieval"]
        label = setting_label(size, wait_s, ranking_wait_s)
        if options.exact_max_items:
            label += ", Milvus search" if exact == 0 else f", exact search up to {exact:,}"
        for url in urls.values():
            warm(url, users, options.k, options.warmup)
        graph_rounds: dict[int, list[dict]] = {level: [] for level in levels}
        for round_number in range(1, options.rounds + 1):
            for level in levels:
                # Back to back, so a round's three figures share the machine's state.
                graph, empty, plain = (
                    measure_level(urls[app], users, options.k, options.requests, level, watch)
                    for app, watch in (("graph", metrics), ("empty", ""), ("plain", ""))
                )
                graph_rounds[level].append({**graph, "pass": plain})
                empty_rounds[level].append({**empty, "pass": plain})
                plain_rounds[level].append(plain)
            load.append(os.getloadavg()[0])
            print(f"{label}: round {round_number} of {options.rounds} done", flush=True)
        results[label] = {level: combine(rounds) for level, rounds in graph_rounds.items()}
    results[EMPTY_GRAPH] = {level: combine(rounds) for level, rounds in empty_rounds.items()}
    results["passthrough"] = {level: combine(rounds) for level, rounds in plain_rounds.items()}
    serve.shutdown()
    print("1-min load average before and after each round:", load)
    for name, rows in results.items():
        if name == "passthrough":
            continue
        for level, real in rows.items():
            plain = paired_base(real, results["passthrough"][level])
            stages = ", ".join(f"{n} {ms:.1f}" for n, ms in real.get("stages", {}).items())
            ratio_p50, ratio_p99, ratio_rps = ratios(real, plain)[6:9]
            print(
                f"{name}, concurrency {level:>3}: graph p50 {real['p50_ms']:.1f} ms "
                f"p99 {real['p99_ms']:.1f} ms {real['rps']:.1f} req/s | pass-through p50 "
                f"{plain['p50_ms']:.1f} ms p99 {plain['p99_ms']:.1f} ms {plain['rps']:.1f} "
                f"req/s | ratios p50 {ratio_p50}, p99 {ratio_p99}, throughput {ratio_rps} "
                f"| stages ms: {stages}"
            )
    if options.write_docs is not None:
        from components.recommend.tables import load_serving_tables

        origin = "from the champion's run"
        if not status["tables"].startswith("run:"):
            origin = (
                f"from {options.tables_dir}"
                if options.tables_dir
                else f"built from {options.source}"
            )
        catalog = f"{status.get('catalog_items', 'unknown')} items"  # what Retrieval serves
        if not status.get("catalog_items") and tables is not None:
            catalog = f"{len(load_serving_tables(tables).items)} items"
        context = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.system()} {platform.machine()}",
            "cpus": os.cpu_count(),
            "requests": options.requests,
            "warmup": options.warmup,
            "k": options.k,
            "users": len(users),
            "catalog": f"{catalog}, serving tables {origin}",
            "label": options.label,
            "load": ", ".join(f"{x:.1f}" for x in load),
            "rounds": options.rounds,
        }
        write_docs(
            options.write_docs,
            markdown(results, context, options.docs_block),
            options.docs_block,
        )
        print(f"wrote results into {options.write_docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
