"""Starting the graph on this machine: a local Ray (or the cluster ``RECO_RAY_ADDRESS`` names)
with the platform's Serve flags, Serve's HTTP proxy, the app, and a wait for ``/readyz``.

What ``reco serve``, ``make run``, the benchmarks and the serving tests use; a cluster runs the
same ``serving.app:build`` from the RayService's Serve config instead.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import httpx
from ray import serve

from components.settings import Settings
from serving.app import APP_NAME, V1, build
from serving.config import RAY_SERVE_ENV, ServeArgs

log = logging.getLogger(__name__)


def _reachable(host: str) -> str:
    """Where a client on this machine reaches a server bound to ``host`` (a wildcard: loopback)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def base_url(settings: Settings) -> str:
    return f"http://{_reachable(settings.serve_host)}:{settings.serve_port}"


def example_curl(url: str, user_id: int = 1, k: int = 5) -> str:
    """A command that works as pasted against a running app."""
    body = json.dumps({"user_id": user_id, "k": k})
    return (
        f"curl -s -X POST {url.rstrip('/')}{V1}/recommend "
        f"-H 'Content-Type: application/json' -d '{body}'"
    )


def wait_until_ready(url: str, timeout_s: float = 300.0) -> bool:
    """Poll ``/readyz`` until it answers 200; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=5.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


class PortInUseError(RuntimeError):
    """The HTTP port the app should listen on is taken."""


def port_in_use(host: str, port: int) -> bool:
    """Whether something already accepts connections on ``host:port``."""
    import socket

    target = _reachable(host)
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((target, port)) == 0


def init_ray(attempts: int = 3, **options: Any) -> None:
    """``ray.init`` with the platform's Serve flags (``RAY_SERVE_ENV``, unless the environment
    sets them), retried when the local node misses its startup deadline: Ray gives the raylet
    a fixed 30 s to register, which the first start after a fresh install on two busy cores can
    miss (seen in CI); the next attempt starts warm."""
    import ray

    for name, value in RAY_SERVE_ENV.items():  # the Ray processes started here inherit them
        os.environ.setdefault(name, value)
    for attempt in range(1, attempts + 1):
        try:
            ray.init(**options)
            return
        except Exception as error:  # Ray raises a bare Exception for this timeout
            if attempt == attempts or "timed out during startup" not in str(error):
                raise
            log.warning("Ray did not start (%s); attempt %d of %d", error, attempt + 1, attempts)
            ray.shutdown()


def start_local_ray(settings: Settings, object_store_mb: int = 256) -> None:
    """Connect to ``settings.ray_address``, or start a small local Ray (no dashboard)."""
    import ray

    if ray.is_initialized():
        return
    if settings.ray_address:
        ray.init(address=settings.ray_address, logging_level=logging.WARNING)
        return
    init_ray(
        num_cpus=max(2, os.cpu_count() or 2),
        object_store_memory=object_store_mb * 1024 * 1024,
        include_dashboard=False,
        logging_level=logging.WARNING,
    )


def logging_config(args: ServeArgs) -> dict[str, Any]:
    """Serve's logging for the app: per-request access lines only when asked for."""
    return {"enable_access_log": args.access_log}


def serve_locally(
    settings: Settings,
    blocking: bool = False,
    args: ServeArgs | None = None,
    ready_timeout_s: float = 300.0,
) -> str:
    """Start the app on ``settings.serve_host:serve_port`` and return its base URL.

    With ``blocking``, print a working curl and serve until interrupted (Ctrl-C), then shut
    Serve down."""
    if port_in_use(settings.serve_host, settings.serve_port):
        raise PortInUseError(
            f"{settings.serve_host}:{settings.serve_port} is already in use: stop what listens "
            "there, or pick another port (`reco serve --port N` or RECO_SERVE_PORT)"
        )
    args = args or ServeArgs.from_settings(settings)
    start_local_ray(settings)
    serve.start(
        http_options={"host": settings.serve_host, "port": settings.serve_port},
        logging_config=logging_config(args),
    )
    serve.run(
        build(args),
        name=APP_NAME,
        route_prefix="/",
        blocking=False,
        logging_config=logging_config(args),
    )
    url = base_url(settings)
    if not wait_until_ready(url, ready_timeout_s):
        log.warning("%s/readyz is not 200 after %.0f s; serving degraded", url, ready_timeout_s)
    if blocking:
        print(f"Serving on {url} (OpenAPI: {url}/docs). Try:\n  {example_curl(url)}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            serve.shutdown()
    return url
