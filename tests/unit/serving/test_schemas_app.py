import shlex

import pytest
from pydantic import ValidationError

from components.recommend.reasons import FOR_YOU, POPULAR_NOW, reason
from components.settings import Settings
from serving.app import _error_message, base_url, example_curl
from serving.schemas import FeedbackBody, RecommendBody


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": 1, "k": 0},
        {"user_id": 1, "k": 10000},
        {"user_id": 1, "unknown": True},
        {"user_id": "1"},
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
    query = body.to_query()
    assert (query.user_id, query.k, query.categories, query.exclude) == (3, 7, ("A", "B"), (9,))
    assert RecommendBody.model_validate({"user_id": 3}).k == 10


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
