from benchmarks.serving_latency import (
    EMPTY_GRAPH,
    batching_setting,
    cold_answers,
    combine,
    markdown,
    paired_base,
    ratios,
    setting_label,
)


def test_a_batching_setting_takes_an_optional_wait_for_ranking():
    assert batching_setting("8:0.002") == (8, 0.002, 0.002)
    assert batching_setting("8:0.002:0") == (8, 0.002, 0.0)
    assert batching_setting("8") == (8, 0.0, 0.0)
    assert setting_label(8, 0.002, 0.002) == "batch 8, wait 2 ms"
    assert setting_label(8, 0.002, 0.0) == "batch 8, wait 2 ms (Ranking 0 ms)"
    assert setting_label(1, 0.0, 0.0) == "no batching"


def _row(errors: int = 0, cold: int = 0, p99: float = 20.0) -> dict:
    return {
        "requests": 100,
        "errors": errors,
        "cold_start": cold,
        "p50_ms": 10.0,
        "p99_ms": p99,
        "mean_ms": 12.0,
        "rps": 50.0,
    }


def test_cold_answers_count_the_real_graph_only():
    results = {
        "batch 8, wait 0 ms": {1: _row(cold=3), 16: _row(errors=2, cold=1)},
        EMPTY_GRAPH: {1: _row(cold=100)},  # never counted
        "passthrough": {1: _row(cold=100), 16: _row()},
    }
    assert cold_answers(results) == "4 of 198"


def test_the_docs_block_has_the_empty_graph_row_and_the_cold_count():
    results = {
        "batch 8, wait 0 ms": {1: {**_row(p99=40.0), "stages": {"Retrieval": 6.0}}},
        EMPTY_GRAPH: {1: _row(p99=20.0)},
        "passthrough": {1: _row(p99=10.0)},
    }
    context = {
        "date": "2026-12-01",
        "machine": "Linux x86_64",
        "cpus": 2,
        "requests": 100,
        "warmup": 10,
        "k": 10,
        "users": 200,
        "label": "test",
        "catalog": "10 items",
        "load": "1.0",
    }
    text = markdown(results, context)
    assert "Cold-start answers: 0 of 100" in text
    assert f"| {EMPTY_GRAPH} | 1 | 10.0 | 20.0 |" in text
    assert "| 2.0x |" in text  # the empty graph's p99 ratio to the pass-through
    assert "- batch 8, wait 0 ms, concurrency 1: Retrieval 6.0" in text
    assert f"- {EMPTY_GRAPH}" not in text  # no deployments inside: no stage line


def test_rounds_are_medians_and_ratios_pair_each_round_with_its_own_pass_through():
    plain = [_row(p99=10.0), _row(p99=20.0), _row(p99=10.0)]
    graph = [
        {**_row(p99=p99), "stages": {"Retrieval": ms}, "pass": base}
        for p99, ms, base in zip((30.0, 30.0, 25.0), (4.0, 6.0, 5.0), plain, strict=True)
    ]
    row = combine(graph)
    assert row["p99_ms"] == 30.0 and row["requests"] == 300 and row["stages"] == {"Retrieval": 5.0}
    base = paired_base(row, passthrough=combine([_row(p99=99.0)]))  # not this row's rounds
    assert base["p99_ms"] == 10.0
    figures = ratios(row, base)
    # per round 3.0, 1.5, 2.5: the median and the range, never 30 / 10 of the medians
    assert figures[7] == "2.5x (1.5-3.0)"
    assert figures[6] == "1.0x (1.0-1.0)"
