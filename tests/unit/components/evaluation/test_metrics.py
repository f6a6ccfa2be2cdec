import math

import pytest

from components.evaluation.metrics import (
    METRICS,
    coverage_at_k,
    hit_rate_at_k,
    metric_key,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

RELEVANT = {1: {10, 11}, 2: {20}}


def test_perfect_ranking_scores_one() -> None:
    recommended = {1: [10, 11, 99], 2: [20, 98, 97]}
    assert recall_at_k(recommended, RELEVANT, 2) == 1.0
    assert ndcg_at_k(recommended, RELEVANT, 2) == pytest.approx(1.0)
    assert ndcg_at_k(recommended, RELEVANT, 3) == pytest.approx(1.0)
    assert hit_rate_at_k(recommended, RELEVANT, 1) == 1.0


def test_no_hits_score_zero() -> None:
    recommended = {1: [1, 2, 3], 2: [4, 5, 6]}
    for metric in (recall_at_k, ndcg_at_k, precision_at_k, hit_rate_at_k):
        assert metric(recommended, RELEVANT, 3) == 0.0


def test_empty_recommendations_score_zero() -> None:
    for metric in (recall_at_k, ndcg_at_k, precision_at_k, hit_rate_at_k):
        assert metric({}, RELEVANT, 10) == 0.0
        assert metric({1: [], 2: []}, RELEVANT, 10) == 0.0
    assert coverage_at_k({}, 100, 10) == 0.0


def test_hand_computed_ndcg() -> None:
    # Hits at positions 0 and 2 of 3; two relevant items, so the ideal has hits at 0 and 1.
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k({1: [10, 5, 11]}, {1: {10, 11}}, 3) == pytest.approx(dcg / ideal)
    # One relevant item at position 1: 1 / log2(3); ideal over min(k, |rel|) = 1 position.
    assert ndcg_at_k({1: [5, 10]}, {1: {10}}, 10) == pytest.approx(1 / math.log2(3))


def test_recall_is_hits_over_all_relevant_items_and_users_without_tests_are_skipped() -> None:
    relevant = {1: {10, 11, 12, 13}, 2: {20}, 3: set()}
    recommended = {1: [10, 11, 0, 1], 2: [0, 1, 2, 3], 3: [0], 4: [20]}
    # user 1: 2/4 at k=2; user 2: 0; user 3 (no test items) and user 4 (not in test) skipped.
    assert recall_at_k(recommended, relevant, 2) == pytest.approx((0.5 + 0.0) / 2)
    assert precision_at_k(recommended, relevant, 4) == pytest.approx((2 / 4 + 0) / 2)


def test_duplicates_in_a_list_count_once() -> None:
    assert recall_at_k({1: [10, 10, 10]}, {1: {10, 11}}, 3) == 0.5
    assert ndcg_at_k({1: [10, 10]}, {1: {10}}, 2) == pytest.approx(1.0)


def test_coverage_on_small_example() -> None:
    recommended = {1: [1, 2, 3], 2: [2, 3, 4], 3: [5, 6, 7]}
    assert coverage_at_k(recommended, 10, 2) == pytest.approx(5 / 10)  # {1,2,3,5,6}
    assert coverage_at_k(recommended, 7, 3) == pytest.approx(1.0)


@pytest.mark.parametrize("k", [0, -1, 2.5, "10", None, True])
def test_invalid_k_raises(k: object) -> None:
    for metric in (recall_at_k, ndcg_at_k, precision_at_k, hit_rate_at_k):
        with pytest.raises(ValueError, match="k must be an integer >= 1"):
            metric({1: [1]}, {1: {1}}, k)
    with pytest.raises(ValueError, match="k must be"):
        coverage_at_k({1: [1]}, 10, k)


def test_invalid_catalog_size_raises() -> None:
    with pytest.raises(ValueError, match="catalog_size"):
        coverage_at_k({1: [1]}, 0, 10)


def test_metrics_are_named_for_serialisation() -> None:
    assert METRICS["recall"] is recall_at_k and METRICS["coverage"] is coverage_at_k
    assert metric_key("ndcg", 10) == "ndcg@10"
    with pytest.raises(ValueError, match="unknown metric"):
        metric_key("auc", 10)


def test_paired_gain_is_the_mean_per_user_difference_with_its_standard_error():
    from components.evaluation.metrics import ndcg_at_k, paired_gain

    relevant = {1: {10}, 2: {20}, 3: {30}, 4: {40}}
    baseline = {u: [99, next(iter(r))] for u, r in relevant.items()}  # every hit at rank 2
    better = {u: [next(iter(r)), 99] for u, r in relevant.items()}  # every hit at rank 1
    gain, stderr = paired_gain(baseline, better, relevant, k=10)
    assert math.isclose(gain, ndcg_at_k(better, relevant, 10) - ndcg_at_k(baseline, relevant, 10))
    assert gain > 0 and stderr == 0.0  # the same gain for every user: no noise
    mixed = {1: better[1], 2: baseline[2], 3: better[3], 4: [99, 98]}  # up, same, up, down
    gain, stderr = paired_gain(baseline, mixed, relevant, k=10)
    assert stderr > 0 and gain < 2 * stderr  # a gain inside its noise
    assert paired_gain(baseline, better, {1: {10}}, k=10)[1] == math.inf  # one user: no verdict
