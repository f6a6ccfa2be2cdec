import random

from benchmarks.soak import _request, summarize


def test_summary_per_replica_says_first_min_max_last_and_growth():
    samples = [
        {"t_s": 0, "rss_mib": {"Ingress#1": 100.0, "Retrieval#2": 300.0}},
        {"t_s": 15, "rss_mib": {"Ingress#1": 120.0, "Retrieval#2": 290.0}},
        {"t_s": 30, "rss_mib": {"Ingress#1": 110.0}},  # Retrieval#2 gone (restarted)
    ]
    summary = summarize(samples)
    assert summary["Ingress#1"] == {
        "first": 100.0,
        "min": 100.0,
        "max": 120.0,
        "last": 110.0,
        "growth": 10.0,
    }
    assert summary["Retrieval#2"]["growth"] == -10.0


def test_requests_are_seeded_and_feedback_carries_event_ids():
    first = [_request(random.Random(3), 300, i % 2 == 0) for i in range(4)]
    assert first == [_request(random.Random(3), 300, i % 2 == 0) for i in range(4)]
    path, body = _request(random.Random(1), 300, True)
    assert path == "/v1/feedback" and all(len(e["event_id"]) == 32 for e in body["events"])
    path, body = _request(random.Random(1), 300, False)
    assert path == "/v1/recommend" and 1 <= body["user_id"] <= 300
