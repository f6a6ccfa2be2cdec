import asyncio
import shlex

import pytest
from pydantic import ValidationError

from components.recommend.reasons import FOR_YOU, POPULAR_NOW, reason
from components.settings import Settings
from serving.app import _error_message
from serving.local import base_url, example_curl
from serving.schemas import FeedbackBody, RecommendBody


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": 1, "k": 0},
        {"user_id": 1, "k": 10000},
        {"user_id": 1, "unknown": True},
        {"user_id": ""},
        {"user_id": "has space"},
        {"user_id": "x" * 129},
        {"user_id": 1.5},
        {"user_id": True},
        {"user_id": -3},
        {"user_id": 1, "exclude_items": [0]},
        {"user_id": 1, "categories": [""]},
        {"k": 5},
        {"user_id": 2**63},
        {"user_id": 1, "exclude_items": [2**63]},
        {"user_id": 1, "context": {"page": float("inf")}},
        {"user_id": 1, "context": {"page": "x" * 257}},
        {"user_id": 1, "context": {f"k{i}": i for i in range(33)}},
    ],
)
def test_bad_recommend_bodies_are_refused(body):
    with pytest.raises(ValidationError):
        RecommendBody.model_validate(body)


def test_recommend_body_becomes_a_query():
    body = RecommendBody.model_validate(
        {"user_id": 3, "k": 7, "categories": ["A", "A", "B"], "exclude_items": [9]}
    )
    query = body.to_query(internal_user_id=123)
    assert (query.user_id, query.k, query.categories, query.exclude) == (123, 7, ("A", "B"), (9,))
    assert RecommendBody.model_validate({"user_id": 3}).k == 10
    # string ids are accepted as they are (pseudonymized by the ingress)
    text = "3f2a9c1e-7b4d-4c8e-9a51-0b6f1c2e7d4a"
    assert RecommendBody.model_validate({"user_id": text}).user_id == text
    assert RecommendBody.model_validate({"user_id": "42"}).user_id == "42"


def test_feedback_body_accepts_any_events_for_per_event_checks():
    assert len(FeedbackBody.model_validate({"events": [1, {"x": 2}]}).events) == 2
    with pytest.raises(ValidationError):
        FeedbackBody.model_validate({"events": []})


def test_curl_is_pasteable_and_urls_never_use_the_wildcard_host():
    command = shlex.split(example_curl("http://127.0.0.1:8000/"))
    assert command[:4] == ["curl", "-s", "-X", "POST"]
    assert "http://127.0.0.1:8000/v1/recommend" in command
    assert command[-1] == '{"user_id": 1, "k": 5}'
    assert base_url(Settings(serve_host="0.0.0.0", serve_port=9000)) == "http://127.0.0.1:9000"


def test_validation_messages_name_the_field():
    errors = [{"loc": ("body", "k"), "msg": "too big"}, {"loc": ("body",), "msg": "not a dict"}]
    assert _error_message(errors) == "k: too big; body: not a dict"
    invalid = [{"type": "json_invalid", "loc": ("body", 20), "msg": "JSON decode error"}]
    assert _error_message(invalid) == "body (character 20): JSON decode error"


def test_reasons():
    assert reason("ann", 5, "Heat", ["A"]) == "because you watched Heat"
    assert reason("covisit", 5, "", ["A"]) == "because you watched item 5"
    assert reason("popular", -1, "", ["A", "B"], ["B"]) == "popular in B"
    assert reason("popular", -1, "", []) == POPULAR_NOW
    assert reason("ann", -1, "", ["A"]) == FOR_YOU


# Every status code each route can return (the 413 comes from the body limit, the 422 from
# validation, the others from the route bodies).
CODES = {
    ("post", "/v1/recommend"): {"200", "400", "413", "422", "503"},
    ("get", "/v1/items/{item_id}/similar"): {"200", "404", "422"},
    ("post", "/v1/feedback"): {"200", "400", "413", "422", "503"},
    ("post", "/v1/catalog/items"): {"200", "400", "401", "403", "409", "413", "422", "503"},
    ("get", "/healthz"): {"200"},
    ("get", "/readyz"): {"200", "503"},
    ("delete", "/v1/users/{user_id}"): {"200", "401", "403", "422"},
}


def test_every_route_documents_the_codes_it_returns_with_a_body_schema():
    from serving.app import api

    schema = api.openapi()
    routes = {(m, p): op for p, ops in schema["paths"].items() for m, op in ops.items()}
    assert set(routes) == set(CODES)
    for route, codes in CODES.items():
        responses = routes[route]["responses"]
        assert set(responses) == codes, route
        for code, response in responses.items():
            assert response["content"]["application/json"]["schema"], (route, code)
    errors = schema["components"]["schemas"]
    assert "HTTPValidationError" not in errors  # FastAPI's default 422 shape is not what we send
    assert set(errors["ErrorBody"]["required"]) == {"message", "detail"}


def test_the_error_bodies_sent_match_the_documented_model():
    from fastapi.exceptions import RequestValidationError

    from serving.app import _validation_error
    from serving.limits import BodyLimit
    from serving.schemas import ErrorBody

    error = RequestValidationError(
        [{"type": "less_than_equal", "loc": ("body", "k"), "msg": "too big", "input": 1000}]
    )
    invalid = asyncio.run(_validation_error(None, error))
    body = ErrorBody.model_validate_json(invalid.body)
    assert invalid.status_code == 422 and body.message == "k: too big"

    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    limit = BodyLimit(app=None, limit=lambda: 10)  # refuses before calling the app
    scope = {"type": "http", "headers": [(b"content-length", b"11")]}
    asyncio.run(limit(scope, receive, send))
    assert sent[0]["status"] == 413
    assert ErrorBody.model_validate_json(sent[1]["body"]).detail == []


def test_context_keys_off_the_allow_list_are_refused_with_the_documented_body():
    from serving.app import context_refusal
    from serving.schemas import ErrorBody

    assert context_refusal({"page": "home"}, {"page"}) is None
    assert context_refusal(None, {"page"}) is None
    refused = context_refusal({"page": "home", "email": "a@b", "ssn": "1"}, {"page"})
    body = ErrorBody.model_validate_json(refused.body)
    assert refused.status_code == 422 and "['email', 'ssn']" in body.message
    assert [e.loc for e in body.detail] == [
        ["body", "context", "email"],
        ["body", "context", "ssn"],
    ]
