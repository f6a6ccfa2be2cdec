"""Soak: the real graph under steady, bounded load for a few minutes, with the resident memory
(RSS) of every Serve replica sampled over time, to show whether memory stays flat.

    .venv/bin/python benchmarks/soak.py --state-dir var --minutes 10
    .venv/bin/python benchmarks/soak.py --state-dir var --minutes 3 --write-docs docs/security.md

Load: ``--rate`` requests per second in total (recommend for users 1..``--users`` with random
k, categories and exclusions, and every ``--feedback-every``-th request a feedback batch of one
to five events with an ``event_id``), from ``--concurrency`` clients, seeded. Replicas are found
by their process title (``ray::ServeReplica:<app>:<Deployment>``), so no dashboard is needed.
Needs a finished training run in the state folder. The load generator shares the machine with
Ray: on a small, shared box the figures say whether memory grows, not what capacity is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil

REPLICA_PREFIX = "ray::ServeReplica:"
APP = "reco"


def replica_processes(app: str = APP, ancestor: int | None = None) -> dict[str, psutil.Process]:
    """``Deployment#pid`` -> process, for every live replica of ``app`` that descends from
    ``ancestor`` (default: this process, which started the local Ray): other Ray clusters on
    the same machine may run an app of the same name."""
    root = os.getpid() if ancestor is None else ancestor
    found = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        title = " ".join(proc.info.get("cmdline") or [])
        try:
            ours = any(parent.pid == root for parent in proc.parents())
        except psutil.Error:
            continue
        if ours and title.startswith(f"{REPLICA_PREFIX}{app}:"):
            # "Retrieval", or "Retrieval.method" while it runs a call
            deployment = title.removeprefix(f"{REPLICA_PREFIX}{app}:").split()[0].split(".")[0]
            found[f"{deployment}#{proc.pid}"] = proc
    return found


def sample_rss(processes: dict[str, psutil.Process]) -> dict[str, float]:
    """RSS in MiB of each process still alive."""
    out = {}
    for name, proc in processes.items():
        try:
            out[name] = proc.memory_info().rss / 2**20
        except psutil.Error:
            continue
    return out


def summarize(samples: list[dict[str, Any]], warmup_s: float = 60.0) -> dict[str, dict[str, float]]:
    """Per replica: RSS first, min, max, last (MiB), last - first, and the growth after the
    warm-up (last - the first sample at or after ``warmup_s``: caches and allocator pools
    fill in the first seconds of load; what grows after that is what a leak looks like)."""
    series: dict[str, list[tuple[float, float]]] = {}
    for sample in samples:
        for name, rss in sample["rss_mib"].items():
            series.setdefault(name, []).append((sample["t_s"], rss))
    out = {}
    for name, points in series.items():
        values = [rss for _, rss in points]
        warm = next((rss for t, rss in points if t >= warmup_s), values[-1])
        out[name] = {
            "first": values[0],
            "min": min(values),
            "max": max(values),
            "last": values[-1],
            "growth": values[-1] - values[0],
            "growth_after_warmup": values[-1] - warm,
        }
    return out


def _request(rng: random.Random, users: int, feedback: bool) -> tuple[str, dict]:
    user = rng.randint(1, users)
    if feedback:
        events = [
            {
                "user_id": user,
                "item_id": rng.randint(1, 200),
                "event_type": rng.choice(["view", "click", "purchase"]),
                "event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            }
            for _ in range(rng.randint(1, 5))
        ]
        return "/v1/feedback", {"events": events}
    body: dict[str, Any] = {"user_id": user, "k": rng.choice([5, 10, 20])}
    if rng.random() < 0.3:
        body["exclude_items"] = [rng.randint(1, 200) for _ in range(rng.randint(1, 20))]
    return "/v1/recommend", body


async def load(
    base: str,
    seconds: float,
    rate: float,
    concurrency: int,
    users: int,
    feedback_every: int,
    sample_s: float,
    seed: int,
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Steady load for ``seconds``; returns status counts and the RSS samples."""
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    sent = 0
    interval = concurrency / rate  # per client

    async def client(index: int) -> None:
        nonlocal sent
        async with httpx.AsyncClient(base_url=base, timeout=30.0) as http:
            next_at = time.monotonic() + index * interval / concurrency
            while time.monotonic() - started < seconds:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                next_at += interval
                sent += 1
                path, body = _request(rng, users, feedback_every and sent % feedback_every == 0)
                try:
                    status = str((await http.post(path, json=body)).status_code)
                except httpx.HTTPError as error:
                    status = type(error).__name__
                key = f"{path} {status}"
                counts[key] = counts.get(key, 0) + 1

    async def sampler() -> None:
        while True:
            samples.append(
                {
                    "t_s": round(time.monotonic() - started, 1),
                    "rss_mib": sample_rss(replica_processes()),
                    "requests": sum(counts.values()),
                }
            )
            if time.monotonic() - started >= seconds:
                return
            await asyncio.sleep(min(sample_s, max(0.1, seconds - (time.monotonic() - started))))

    await asyncio.gather(sampler(), *(client(i) for i in range(concurrency)))
    return counts, samples


def markdown(
    summary: dict[str, dict[str, float]], counts: dict[str, int], options: argparse.Namespace
) -> str:
    lines = [
        "<!-- soak:start -->",
        f"Soak (`benchmarks/soak.py --minutes {options.minutes:g} --rate {options.rate:g} "
        f"--concurrency {options.concurrency}`, {platform.machine()}, "
        f"{psutil.cpu_count()} CPUs shared with other jobs): RSS per replica, MiB.",
        "",
        f"| replica | first | min | max | last | last − first | last − at {options.warmup_s:g} s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in sorted(summary.items()):
        lines.append(
            f"| {name.split('#')[0]} (pid {name.split('#')[1]}) | {row['first']:.0f} | "
            f"{row['min']:.0f} | {row['max']:.0f} | {row['last']:.0f} | {row['growth']:+.0f} | "
            f"{row['growth_after_warmup']:+.0f} |"
        )
    answers = ", ".join(f"{key}: {n}" for key, n in sorted(counts.items()))
    lines += ["", f"Answers: {answers}.", "<!-- soak:end -->"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, default=None, help="default: RECO_STATE_DIR")
    parser.add_argument("--minutes", type=float, default=10.0, help="at most 60")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second, total")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--feedback-every", type=int, default=5, help="0 = no feedback")
    parser.add_argument("--sample-s", type=float, default=15.0, help="RSS sampling interval")
    parser.add_argument("--warmup-s", type=float, default=60.0, help="growth counted after")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--out", type=Path, default=None, help="JSON of every sample")
    parser.add_argument("--write-docs", type=Path, default=None, help="e.g. docs/security.md")
    options = parser.parse_args(argv)
    if not 0 < options.minutes <= 60:
        parser.error("--minutes must be in (0, 60]")

    from ray import serve

    from benchmarks.serving_latency import write_docs
    from components.settings import Settings
    from serving.app import build
    from serving.config import ServeArgs
    from serving.local import logging_config, start_local_ray, wait_until_ready

    overrides: dict[str, Any] = {"serve_port": options.port, "serve_host": "127.0.0.1"}
    if options.state_dir is not None:
        overrides["state_dir"] = options.state_dir
    settings = Settings(**overrides)
    scratch = Path(tempfile.mkdtemp(prefix="soak-"))
    args = ServeArgs.from_settings(  # logs go to a scratch folder, not the state's event log
        settings, event_log_dir=scratch / "events", prediction_log_dir=scratch / "predictions"
    )
    start_local_ray(settings)
    serve.start(
        http_options={"host": settings.serve_host, "port": settings.serve_port},
        logging_config=logging_config(args),
    )
    base = f"http://{settings.serve_host}:{settings.serve_port}"
    try:
        serve.run(build(args), name=APP, route_prefix="/", logging_config=logging_config(args))
        if not wait_until_ready(base, 300):
            print(httpx.get(f"{base}/readyz").text, file=sys.stderr)
            return 1
        counts, samples = asyncio.run(
            load(
                base,
                options.minutes * 60,
                options.rate,
                options.concurrency,
                options.users,
                options.feedback_every,
                options.sample_s,
                options.seed,
            )
        )
    finally:
        serve.shutdown()
    summary = summarize(samples, options.warmup_s)
    print(json.dumps({"answers": counts, "rss_mib": summary}, indent=2))
    if options.out is not None:
        options.out.write_text(json.dumps({"answers": counts, "samples": samples}, indent=2))
    block = markdown(summary, counts, options)
    print(block)
    if options.write_docs is not None:
        write_docs(options.write_docs, block, name="soak")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
