"""ANN at scale: recall@k against exact search, single-query and batched latency of the item index
on a real Milvus server (and on Milvus Lite for contrast), built with the project's own index code.

    .venv/bin/python benchmarks/ann.py --data-dir /tmp/milvus-ann --sizes 100000,1000000
    .venv/bin/python benchmarks/ann.py --uri http://127.0.0.1:19530 --sizes 100000 --lite-sizes ""
    .venv/bin/python benchmarks/ann.py ... --write-docs docs/serving.md --json docs/ann.json

Items are unit vectors near a few hundred cluster centres (seeded), like item embeddings that
group by taste; queries are fresh draws from the same clusters. Each size gets its own collection
(``IndexSpec``: HNSW, 2 shards, inner product) built by ``create_collection_for_run``,
``insert_vectors`` and ``build_and_load``, searched through an alias with ``search_items`` — the
serving path. Ground truth is numpy brute force over the same vectors. The Milvus URI alone
decides the backend: ``--uri`` a running server, ``--data-dir`` one started here
(``milvus-server`` from the dev extra), and ``--lite-sizes`` the same runs on a Milvus Lite file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from components.retrieval.build import (
    IndexSpec,
    build_and_load,
    create_collection_for_run,
    insert_vectors,
    swap_alias,
)
from components.retrieval.cleanup import drop_stale_collections
from components.retrieval.client import milvus_client, release_milvus
from components.retrieval.search import search_items

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the server launcher is a dev tool that lives with the tests
    sys.path.insert(0, str(ROOT))
from tests.integration.milvus_server import running_milvus_server  # noqa: E402

MARK_START = "<!-- ann:start -->"
MARK_END = "<!-- ann:end -->"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def clustered_vectors(
    n: int, dim: int, centres: np.ndarray, spread: float, rng: np.random.Generator
) -> np.ndarray:
    """``n`` unit vectors, each a random centre plus Gaussian noise of norm ~``spread``."""
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        noise = rng.normal(scale=spread / np.sqrt(dim), size=(m, dim)).astype(np.float32)
        part = centres[rng.integers(len(centres), size=m)] + noise
        out[start : start + m] = part / np.linalg.norm(part, axis=1, keepdims=True)
    return out


def make_data(
    n: int, dim: int, n_queries: int, clusters: int, spread: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    items = clustered_vectors(n, dim, centres, spread, rng)
    queries = clustered_vectors(n_queries, dim, centres, spread, rng)
    return items, queries


def exact_top_k(items: np.ndarray, queries: np.ndarray, k: int, chunk: int = 16) -> np.ndarray:
    """Row indices of each query's ``k`` largest inner products (brute force, numpy)."""
    top = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ items.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
        top[start : start + chunk] = np.take_along_axis(part, order, axis=1)
    return top


def recall_at_k(found: list[list[tuple[int, float]]], exact_ids: np.ndarray) -> float:
    """Mean share of the exact top-k ids that the ANN answer holds."""
    rows = zip(found, exact_ids, strict=True)
    hits = [len({i for i, _ in row} & set(truth.tolist())) for row, truth in rows]
    return float(np.sum(hits) / exact_ids.size)


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def measure(
    client: Any,
    alias: str,
    queries: np.ndarray,
    exact_ids: np.ndarray,
    k: int,
    ef: int,
    batch: int,
    warmup: int,
) -> dict[str, Any]:
    """Recall@k and latency through ``search_items`` (what serving calls), one ef value."""
    params = {"ef": ef}
    for q in queries[:warmup]:
        search_items(client, alias, q[None, :], k, search_params=params)
    single, found = [], []
    for q in queries:
        started = time.perf_counter()
        found += search_items(client, alias, q[None, :], k, search_params=params)
        single.append(time.perf_counter() - started)
    batched = []
    for start in range(0, len(queries) - batch + 1, batch):
        started = time.perf_counter()
        search_items(client, alias, queries[start : start + batch], k, search_params=params)
        batched.append(time.perf_counter() - started)
    result = {"ef": ef, "recall": recall_at_k(found, exact_ids)}
    result["single"] = percentiles(single)
    result["batch"] = percentiles(batched) if batched else {}
    if batched:
        result["batch"]["per_query_ms"] = float(np.mean(batched) * 1000.0 / batch)
    return result


def run_size(
    client: Any,
    backend: str,
    n: int,
    options: argparse.Namespace,
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> dict[str, Any]:
    """Build one collection of ``n`` items with the project's index code and measure it."""
    items, queries, exact_rows = data
    spec = IndexSpec(
        alias=f"ann_bench_{n}",
        dim=items.shape[1],
        num_shards=options.shards,
        index_type="HNSW",
        metric_type="IP",
        index_params={"M": options.m, "efConstruction": options.ef_construction},
        search_params={"ef": options.ef[0]},
    )
    ids = np.arange(1, n + 1, dtype=np.int64)
    exact_ids = ids[exact_rows]
    started = time.perf_counter()
    name = create_collection_for_run(client, spec, f"run_{int(time.time())}")
    say(f"{backend} {n:,}: inserting into {name}")
    insert_vectors(client, name, ids, items, [""] * n, [True] * n, batch_size=5000, progress=True)
    inserted = time.perf_counter()
    say(f"{backend} {n:,}: inserted in {inserted - started:.0f} s; indexing and loading")
    info = build_and_load(client, spec, name, expected_rows=n)
    built = time.perf_counter()
    say(f"{backend} {n:,}: index built and loaded in {built - inserted:.0f} s")
    try:  # a server splits each shard into segments, one HNSW graph each, all searched
        segments = [int(s.num_rows) for s in client.list_loaded_segments(name)]
    except Exception:  # noqa: BLE001 - Milvus Lite has no such call
        segments = []
    say(f"{backend} {n:,}: {len(segments)} loaded segments, rows {segments}")
    swap_alias(client, spec.alias, name)
    drop_stale_collections(client, spec.alias, keep=0)
    runs = []
    for ef in options.ef:
        say(f"{backend} {n:,}: measuring ef={ef} ({len(queries)} queries)")
        last = measure(client, spec.alias, queries, exact_ids, options.k, ef, options.batch, 5)
        runs.append(last)
        say(
            f"{backend} {n:,} ef={ef}: recall@{options.k} {last['recall']:.3f}, single p50 "
            f"{last['single']['p50_ms']:.1f} ms, p99 {last['single']['p99_ms']:.1f} ms"
        )
    if not options.keep:
        client.drop_alias(spec.alias)
        client.drop_collection(name)
    return {
        "backend": backend,
        "items": n,
        "num_shards": info.get("num_shards"),
        "index_type": info.get("index_type"),
        "index_params": info.get("index_params"),
        "segments": segments,
        "insert_s": inserted - started,
        "index_load_s": built - inserted,
        "runs": runs,
    }


@contextmanager
def server_uri(options: argparse.Namespace) -> Iterator[str]:
    if options.uri:
        yield options.uri
        return
    data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="milvus-ann-"))
    say(f"starting milvus-server with data in {data_dir}")
    started = time.perf_counter()
    extra = dict(item.split("=", 1) for item in options.server_config)
    with running_milvus_server(data_dir, extra_config=extra) as uri:
        say(f"milvus-server serving at {uri} after {time.perf_counter() - started:.0f} s")
        yield uri


def markdown(results: list[dict[str, Any]], context: dict[str, Any]) -> str:
    lines = [
        MARK_START,
        f"Measured {context['date']} on {context['machine']} ({context['cpus']} CPUs, shared "
        f"with other work): {' and '.join(sorted({r['backend'] for r in results}))}; the server "
        f"is Milvus 2.3.5 standalone (`milvus-server` from pip), pymilvus {context['pymilvus']}."
        f" {context['dim']}-d unit vectors near {context['clusters']} "
        f"centres, noise {context['spread']} (seed {context['seed']}), {context['queries']} "
        f"held-out queries, k={context['k']}, inner product; HNSW M={context['m']}, "
        f"efConstruction={context['ef_construction']}; batches of {context['batch']} queries "
        "per call.",
        "",
        f"Command: `{context['command']}`",
        "",
        f"| backend | items | shards | segments | ef | recall@{context['k']} | single p50 ms "
        f"| single p99 ms | batch of {context['batch']}: p50 ms / call | p99 ms / call "
        "| ms / query | insert s | index + load s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for run in result["runs"]:
            batch = run.get("batch") or {}
            lines.append(
                f"| {result['backend']} | {result['items']:,} | {result['num_shards']} "
                f"| {len(result['segments']) or '-'} "
                f"| {run['ef']} | {run['recall']:.3f} | {run['single']['p50_ms']:.1f} "
                f"| {run['single']['p99_ms']:.1f} | {batch.get('p50_ms', float('nan')):.1f} "
                f"| {batch.get('p99_ms', float('nan')):.1f} "
                f"| {batch.get('per_query_ms', float('nan')):.2f} "
                f"| {result['insert_s']:.0f} | {result['index_load_s']:.0f} |"
            )
    lines.append(MARK_END)
    return "\n".join(lines)


def write_docs(path: Path, block: str) -> None:
    text = path.read_text() if path.exists() else ""
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        text = head + block + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def sizes(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--uri", help="a running Milvus server, e.g. http://127.0.0.1:19530")
    where.add_argument(
        "--data-dir", type=Path, help="start milvus-server here (default: a temporary folder)"
    )
    parser.add_argument(
        "--server-config",
        action="append",
        default=[],
        help="KEY=VALUE for the started server's milvus.yaml, e.g. dataCoord.segment.maxSize=1024",
    )
    parser.add_argument("--sizes", type=sizes, default=[100_000], help="e.g. 100000,1000000")
    parser.add_argument(
        "--lite-sizes", type=sizes, default=[100_000], help='Milvus Lite contrast ("" for none)'
    )
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--clusters", type=int, default=300)
    parser.add_argument("--spread", type=float, default=0.5, help="noise norm around a centre")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument(
        "--ef",
        type=lambda s: [int(v) for v in s.split(",")],
        default=[200],
        help="HNSW search ef values to try, e.g. 200,400 (search_items raises ef to >= k)",
    )
    parser.add_argument("--batch", type=int, default=16, help="queries per call, batched")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--m", type=int, default=16, help="HNSW M")
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the collections afterwards")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--write-docs", type=Path, default=None, help="e.g. docs/serving.md")
    options = parser.parse_args(argv)

    datasets: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if n not in datasets:
            say(f"generating {n:,} x {options.dim} vectors and exact top-{options.k}")
            items, queries = make_data(
                n, options.dim, options.queries, options.clusters, options.spread, options.seed
            )
            datasets[n] = (items, queries, exact_top_k(items, queries, options.k))
        return datasets[n]

    results = []
    if options.sizes:
        with server_uri(options) as uri:
            client = milvus_client(uri)
            try:
                for n in options.sizes:
                    results.append(run_size(client, "Milvus server", n, options, data(n)))
            finally:
                release_milvus(client, uri)
    for n in options.lite_sizes:
        with tempfile.TemporaryDirectory(prefix="milvus-lite-ann-") as folder:
            uri = str(Path(folder) / "ann.db")
            client = milvus_client(uri)
            try:
                results.append(run_size(client, "Milvus Lite", n, options, data(n)))
            finally:
                release_milvus(client, uri)

    import pymilvus

    context = {
        "date": date.today().isoformat(),
        "machine": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "pymilvus": pymilvus.__version__,
        "command": shlex.join(["benchmarks/ann.py", *(argv if argv is not None else sys.argv[1:])]),
        **{key: getattr(options, key) for key in ("dim", "clusters", "spread", "seed", "queries")},
        "k": options.k,
        **{key: getattr(options, key) for key in ("m", "ef_construction", "batch")},
    }
    block = markdown(results, context)
    print(block)
    if options.json is not None:
        options.json.write_text(json.dumps({"context": context, "results": results}, indent=2))
    if options.write_docs is not None:
        write_docs(options.write_docs, block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
