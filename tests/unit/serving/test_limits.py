"""The ingress's body limit: 413 with a message before an oversized body is read whole."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from serving.limits import BodyLimit, too_large_message

LIMIT = 2048


def _app(read: list[int]) -> FastAPI:
    app = FastAPI()
    app.add_middleware(BodyLimit, limit=lambda: LIMIT)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        read.append(len(body))
        return {"bytes": len(body)}

    return app


def test_bodies_within_the_limit_pass_through():
    read: list[int] = []
    response = TestClient(_app(read)).post("/echo", content=b"x" * LIMIT)
    assert response.status_code == 200 and response.json() == {"bytes": LIMIT}
    assert read == [LIMIT]


def test_a_declared_oversized_body_is_refused_unread():
    read: list[int] = []
    response = TestClient(_app(read)).post("/echo", content=b"x" * (10 * LIMIT))
    assert response.status_code == 413
    assert response.json()["message"] == too_large_message(LIMIT)
    assert read == []  # the route never ran


def test_a_chunked_body_is_refused_once_it_passes_the_limit():
    read: list[int] = []

    def chunks():
        for _ in range(10):
            yield b"y" * 1024

    response = TestClient(_app(read)).post("/echo", content=chunks())
    assert response.status_code == 413
    assert read == []
