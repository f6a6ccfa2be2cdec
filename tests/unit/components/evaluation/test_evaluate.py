import numpy as np
import pandas as pd
import pytest

from components.data.columns import ITEM_ID, USER_ID
from components.evaluation.evaluate import (
    cold_item_recall,
    cold_relevant_items,
    evaluate_baselines,
    evaluate_recommendations,
    relevant_items,
    seen_items,
)


def frame(pairs: list[tuple[int, int]]) -> pd.DataFrame:
    users, items = zip(*pairs, strict=True)
    return pd.DataFrame(
        {USER_ID: np.asarray(users, np.int64), ITEM_ID: np.asarray(items, np.int64)}
    )


def test_items_by_user() -> None:
    assert relevant_items(frame([(2, 5), (1, 3), (2, 6), (2, 5)])) == {1: {3}, 2: {5, 6}}
    assert seen_items(frame([(1, 1)]).iloc[:0]) == {}
    with pytest.raises(ValueError, match="user_id"):
        seen_items(pd.DataFrame({ITEM_ID: [1]}))


def test_evaluate_recommendations_has_the_protocol_keys() -> None:
    test = frame([(1, 10), (2, 20)])
    results = evaluate_recommendations({1: [10, 11], 2: [21, 22]}, test, catalog_size=8)
    for key in ("recall@10", "recall@100", "ndcg@10", "coverage@10"):
        assert key in results
    assert results["recall@10"] == 0.5
    assert results["hit_rate@10"] == 0.5
    assert results["coverage@10"] == pytest.approx(4 / 8)


def test_evaluate_baselines_ranks_personalised_above_popularity() -> None:
    rng = np.random.default_rng(0)
    # Two taste groups of 40 users over two item blocks; each user holds out 2 items of its block.
    train_pairs, test_pairs = [], []
    for user in range(80):
        block = np.arange(0, 30) if user < 40 else np.arange(30, 50)
        items = rng.permutation(block)[:12]
        train_pairs += [(user, int(i)) for i in items[:10]]
        test_pairs += [(user, int(i)) for i in items[10:]]
    train, test = frame(train_pairs), frame(test_pairs)
    results = evaluate_baselines(train, test, catalog_size=50, k=20, progress=False)
    assert set(results) == {"popularity", "item_knn", "als"}
    for metrics in results.values():
        assert {"recall@10", "recall@20", "ndcg@10", "coverage@10"} <= set(metrics)
        assert all(0.0 <= value <= 1.0 for value in metrics.values())
    assert results["item_knn"]["recall@10"] > results["popularity"]["recall@10"]


def test_evaluate_baselines_refuses_unknown_systems() -> None:
    with pytest.raises(ValueError, match="unknown baseline"):
        evaluate_baselines(frame([(1, 1)]), frame([(1, 2)]), 2, systems=("bpr",), progress=False)


def test_only_positive_test_events_are_relevant() -> None:
    from components.data.columns import EVENT_TYPE, VALUE
    from components.evaluation.evaluate import relevance_weights

    test = frame([(1, 10), (1, 11), (1, 12), (2, 20), (1, 10)])
    test[EVENT_TYPE] = ["click", "impression_skip", "rating", "rating", "purchase"]
    test[VALUE] = [np.nan, np.nan, 1.5, 4.5, np.nan]
    assert relevant_items(test) == {1: {10}, 2: {20}}
    assert relevance_weights(test) == {1: {10: 5.0}, 2: {20: 2.0}}


def test_cold_item_recall_counts_only_items_without_a_train_event() -> None:
    train = frame([(1, 10), (2, 11), (3, 12)])
    # user 1: 20 and 21 are cold, 11 is known; user 2: only known items; user 3: 22 is cold
    test = frame([(1, 20), (1, 21), (1, 11), (2, 10), (3, 22)])
    assert cold_relevant_items(train, test) == {1: {20, 21}, 3: {22}}
    recommended = {1: [11, 20, 99], 2: [10], 3: [5, 6]}
    # user 1 finds 1 of 2 cold items (11 does not count), user 3 none: (0.5 + 0) / 2
    assert cold_item_recall(recommended, train, test) == pytest.approx(0.25)
    assert cold_item_recall(recommended, train, test, k=1) == 0.0  # 20 is second
    assert cold_item_recall(recommended, train, frame([(1, 10)])) == 0.0  # nothing cold
