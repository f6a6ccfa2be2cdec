"""init_ray retries only Ray's node-startup timeout (without starting Ray)."""

from __future__ import annotations

import os

import pytest
import ray

from serving.local import init_ray

TIMEOUT = Exception("The current node timed out during startup. This could happen because ...")


def _fake_init(monkeypatch, outcomes: list[Exception | None]) -> list[str]:
    calls: list[str] = []

    def init(**options):
        calls.append("init")
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: calls.append("shutdown"))
    return calls


def test_a_startup_timeout_is_retried(monkeypatch) -> None:
    calls = _fake_init(monkeypatch, [TIMEOUT, None])
    init_ray(num_cpus=1)
    assert calls == ["init", "shutdown", "init"]


def test_other_errors_and_the_last_timeout_are_raised(monkeypatch) -> None:
    calls = _fake_init(monkeypatch, [ValueError("bad option")])
    with pytest.raises(ValueError, match="bad option"):
        init_ray(num_cpus=1)
    assert calls == ["init"]
    _fake_init(monkeypatch, [TIMEOUT, TIMEOUT])
    with pytest.raises(Exception, match="timed out during startup"):
        init_ray(attempts=2, num_cpus=1)


def test_ray_starts_with_the_serve_flags_unless_the_environment_sets_them(monkeypatch) -> None:
    from serving.config import RAY_SERVE_ENV

    seen: list[dict[str, str | None]] = []
    monkeypatch.setattr(
        ray, "init", lambda **_: seen.append({n: os.environ.get(n) for n in RAY_SERVE_ENV})
    )
    first, *rest = RAY_SERVE_ENV
    for name in RAY_SERVE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(first, "user's own")
    init_ray(num_cpus=1)
    assert seen == [{first: "user's own", **{name: RAY_SERVE_ENV[name] for name in rest}}]


def test_a_busy_port_is_refused_before_ray_starts(monkeypatch) -> None:
    import socket

    from components.settings import Settings
    from serving.local import PortInUseError, port_in_use, serve_locally

    monkeypatch.setattr(ray, "init", lambda **_: pytest.fail("Ray must not start"))
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
        with pytest.raises(PortInUseError, match="already in use"):
            serve_locally(Settings(serve_port=port))
    assert not port_in_use("127.0.0.1", port)
