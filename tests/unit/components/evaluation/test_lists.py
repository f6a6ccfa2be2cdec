"""List-level metrics and the served (re-ranked) lists, on hand examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from components.evaluation.lists import (
    intra_list_diversity,
    item_categories,
    list_metrics,
    novelty,
    reranked_lists,
    self_information,
    vector_lookup,
)

CATEGORIES = {1: ["Action"], 2: ["Action"], 3: ["Comedy"], 4: ["Action", "Comedy"], 5: []}


def test_diversity_is_the_mean_pairwise_jaccard_distance() -> None:
    # user 1: {A},{A} -> 0. user 2: {A},{C},{A,C}: d(A,C)=1, d(A,AC)=1/2, d(C,AC)=1/2 -> 2/3
    lists = {1: [1, 2], 2: [1, 3, 4], 3: [5]}  # user 3 has one item: skipped
    assert intra_list_diversity({1: [1, 2]}, CATEGORIES, k=10) == 0.0
    assert intra_list_diversity(lists, CATEGORIES, k=10) == pytest.approx((0 + 2 / 3) / 2)
    # k cuts the list; a repeated item counts once; an item without categories shares none
    assert intra_list_diversity({1: [1, 1, 3, 4]}, CATEGORIES, k=2) == 0.0
    assert intra_list_diversity({1: [5, 1]}, CATEGORIES, k=2) == 1.0
    assert intra_list_diversity({1: [5, 5]}, CATEGORIES, k=2) == 0.0  # one item left


def test_novelty_is_the_mean_self_information_of_the_items() -> None:
    train = pd.DataFrame(
        {
            "user_id": [1, 2, 3, 1, 3],
            "item_id": [10, 10, 10, 11, 12],
            "event_type": ["click", "click", "click", "click", "impression_skip"],
        }
    )
    information, unknown = self_information(train)
    # 3 users: item 10 by all 3 -> -log2(4/4) = 0; item 11 by 1 -> -log2(2/4) = 1;
    # item 12 only skipped: not a positive, as unknown as an item nobody touched: log2(4) = 2
    assert information == {10: 0.0, 11: 1.0}
    assert unknown == 2.0
    lists = {1: [10, 11], 2: [12], 3: []}
    assert novelty(lists, information, k=10, unknown=unknown) == pytest.approx((0.5 + 2) / 2)
    assert novelty({1: [10, 11]}, information, k=1, unknown=unknown) == 0.0
    assert novelty({}, information, k=10, unknown=unknown) == 0.0
    assert list_metrics(lists, CATEGORIES, information, unknown, [1, 2]) == {
        "diversity@1": 0.0,
        "novelty@1": pytest.approx(1.0),
        "diversity@2": 1.0,  # items 10, 11 have no categories here
        "novelty@2": pytest.approx(1.25),
    }
    assert math.isfinite(unknown)


def test_item_categories_read_the_catalog_column() -> None:
    items = pd.DataFrame({"item_id": [1, 2], "categories": ["Action|Comedy", ""]})
    assert item_categories(items) == {1: ["Action", "Comedy"], 2: []}


def test_reranked_lists_apply_the_rules_and_the_category_cap() -> None:
    categories = {1: ["A"], 2: ["A"], 3: ["A"], 4: ["B"], 5: ["C"]}
    ids = np.array([1, 2, 3, 4, 5])
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    scored = {7: (ids, scores)}
    plain = reranked_lists(scored, None, categories, {7: {2}}, k=4, category_cap=None)
    assert plain == {7: [1, 3, 4, 5]}  # seen item 2 dropped, the rest in score order
    capped = reranked_lists(scored, None, categories, {}, k=4, category_cap=1)
    assert capped == {7: [1, 4, 5, 2]}  # one "A" until nothing else is left
    # MMR with vectors: 2 is a copy of 1, so a diverse pick passes it over
    vectors = vector_lookup(ids, np.array([[1, 0], [1, 0], [0.9, 0.1], [0, 1], [0.5, 0.5]]))
    diverse = reranked_lists(
        scored, vectors, categories, {}, k=2, mmr_lambda=0.3, category_cap=None
    )
    assert diverse[7][0] == 1 and diverse[7][1] != 2


def test_vector_lookup_finds_rows_by_id_and_zeros_the_unknown() -> None:
    lookup = vector_lookup(np.array([30, 10, 20]), np.array([[3.0], [1.0], [2.0]]))
    np.testing.assert_array_equal(lookup(np.array([20, 99, 10])), [[2.0], [0.0], [1.0]])
