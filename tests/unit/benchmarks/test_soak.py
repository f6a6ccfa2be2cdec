import random
import time

from benchmarks.soak import _request, summarize


def test_summary_per_replica_says_first_min_max_last_and_growth():
    samples = [
        {"t_s": 0, "rss_mib": {"Ingress#1": 100.0, "Retrieval#2": 300.0}},
        {"t_s": 15, "rss_mib": {"Ingress#1": 120.0, "Retrieval#2": 290.0}},
        {"t_s": 30, "rss_mib": {"Ingress#1": 110.0}},  # Retrieval#2 gone (restarted)
    ]
    summary = summarize(samples, warmup_s=15)
    assert summary["Ingress#1"] == {
        "first": 100.0,
        "min": 100.0,
        "max": 120.0,
        "last": 110.0,
        "growth": 10.0,
        "growth_after_warmup": -10.0,  # 110 - 120 (the sample at 15 s)
    }
    assert summary["Retrieval#2"]["growth"] == -10.0
    assert summary["Retrieval#2"]["growth_after_warmup"] == 0.0  # its last sample is at 15 s


def test_requests_are_seeded_and_feedback_carries_event_ids():
    first = [_request(random.Random(3), 300, i % 2 == 0) for i in range(4)]
    assert first == [_request(random.Random(3), 300, i % 2 == 0) for i in range(4)]
    path, body = _request(random.Random(1), 300, True)
    assert path == "/v1/feedback" and all(len(e["event_id"]) == 32 for e in body["events"])
    path, body = _request(random.Random(1), 300, False)
    assert path == "/v1/recommend" and 1 <= body["user_id"] <= 300


def test_only_replicas_below_the_given_process_are_found():
    import subprocess

    from benchmarks.soak import replica_processes

    # Titled like an Ingress replica of app "reco" (as Ray titles its workers), below this
    # process; a sibling process stands for another Ray cluster's driver.
    replica = subprocess.Popen(["bash", "-c", 'exec -a "ray::ServeReplica:reco:Ingress" sleep 30'])
    sibling = subprocess.Popen(["sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while not replica_processes("reco") and time.monotonic() < deadline:
            time.sleep(0.05)  # until bash has exec'd
        assert list(replica_processes("reco")) == [f"Ingress#{replica.pid}"]
        assert replica_processes("other") == {}
        assert replica_processes("reco", ancestor=sibling.pid) == {}
    finally:
        for proc in (replica, sibling):
            proc.kill()
            proc.wait()
