"""The ranker matrix: fixed columns, category affinity by hand, defaults for unknown ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from components.data.columns import ITEM_ID, USER_ID
from components.features import columns as fc
from components.features.columns import (
    ITEM_IN_TOP_CATEGORY,
    ITEM_N_CATEGORIES,
    RETRIEVAL_RANK,
    RETRIEVAL_SCORE,
    USER_CATEGORY_AFFINITY,
)
from components.features.ranking import DEFAULT_FEATURES, RANKER_FEATURES, ranker_feature_frame

USERS = pd.DataFrame(
    {
        USER_ID: [1, 2],
        fc.USER_EVENTS_7D: [1, 0],
        fc.USER_EVENTS_30D: [2, 0],
        fc.USER_EVENTS_365D: [5, 1],
        fc.USER_EVENTS_ALL: [9, 1],
        fc.USER_ITEMS_ALL: [8, 1],
        fc.USER_DAYS_SINCE_FIRST: [40.0, 3.0],
        fc.USER_RECENT_ITEMS: [[10, 11], [12]],
        fc.USER_TOP_CATEGORIES: ["Action|Comedy|Drama", "Drama"],
        fc.USER_CATEGORY_SHARES: ["Action:0.5000|Comedy:0.3000|Drama:0.2000", "Drama:1.0000"],
        fc.USER_DAYS_SINCE_LAST: [2.5, 30.0],
    }
).set_index(USER_ID)
ITEMS = pd.DataFrame(
    {
        ITEM_ID: [10, 11, 12],
        fc.ITEM_EVENTS_7D: [3, 0, 1],
        fc.ITEM_EVENTS_30D: [4, 1, 1],
        fc.ITEM_EVENTS_365D: [7, 2, 1],
        fc.ITEM_EVENTS_ALL: [20, 2, 1],
        fc.ITEM_USERS_30D: [3, 1, 1],
        fc.ITEM_TREND: [0.5, -0.2, 0.0],
        fc.ITEM_AGE_DAYS: [100.0, 10.0, 1.0],
        fc.ITEM_AVAILABLE: [1, 1, 0],
        fc.ITEM_CATEGORIES: ["Action|Comedy", "Drama|Horror", ""],
    }
).set_index(ITEM_ID)
PAIRS = pd.DataFrame(
    {
        USER_ID: [1, 1, 2, 1],
        ITEM_ID: [10, 11, 11, 12],
        RETRIEVAL_SCORE: [0.9, 0.7, 0.8, 0.1],
        fc.COVISIT_SCORE: [0.0, 1.5, 0.25, 0.0],
    },
    index=[40, 41, 42, 43],
)


def test_columns_are_the_fixed_numeric_list_on_the_pairs_index() -> None:
    out = ranker_feature_frame(USERS, ITEMS, PAIRS)
    assert list(out.columns) == list(RANKER_FEATURES)
    assert list(out.index) == [40, 41, 42, 43]
    assert all(dtype == np.float64 for dtype in out.dtypes)
    assert set(DEFAULT_FEATURES) == set(RANKER_FEATURES)
    assert out.loc[40, fc.ITEM_EVENTS_ALL] == 20
    assert out.loc[42, fc.USER_EVENTS_ALL] == 1
    # No rank given: derived per user from the score, 0 = best.
    assert out[RETRIEVAL_RANK].tolist() == [0.0, 1.0, 0.0, 2.0]


def test_category_affinity_and_top_category_by_hand() -> None:
    out = ranker_feature_frame(USERS, ITEMS, PAIRS)
    # user 1: Action .5 + Comedy .3 for item 10; Drama .2 (Horror unseen) for item 11.
    assert out[USER_CATEGORY_AFFINITY].tolist() == pytest.approx([0.8, 0.2, 1.0, 0.0])
    assert out[ITEM_IN_TOP_CATEGORY].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert out[ITEM_N_CATEGORIES].tolist() == [2.0, 2.0, 2.0, 0.0]


def test_unknown_ids_and_an_unreachable_store_get_the_defaults() -> None:
    pairs = pd.DataFrame({USER_ID: [99, 1], ITEM_ID: [10, 999], RETRIEVAL_SCORE: [0.3, 0.2]})
    out = ranker_feature_frame(USERS, ITEMS, pairs)
    assert out.loc[0, fc.USER_EVENTS_ALL] == DEFAULT_FEATURES[fc.USER_EVENTS_ALL]
    assert out.loc[0, USER_CATEGORY_AFFINITY] == 0.0
    assert out.loc[1, fc.ITEM_EVENTS_ALL] == DEFAULT_FEATURES[fc.ITEM_EVENTS_ALL]
    assert out.loc[0, fc.ITEM_EVENTS_ALL] == 20  # the known side is still used

    degraded = ranker_feature_frame(pd.DataFrame(), pd.DataFrame(), pairs)
    expected = pd.DataFrame([DEFAULT_FEATURES] * 2)[list(RANKER_FEATURES)]
    expected[RETRIEVAL_SCORE] = [0.3, 0.2]
    expected[RETRIEVAL_RANK] = [0.0, 0.0]
    pd.testing.assert_frame_equal(degraded, expected.astype(np.float64))


def test_joined_training_rows_give_the_same_matrix_as_the_serving_lookup() -> None:
    joined = PAIRS.join(USERS, on=USER_ID).join(ITEMS, on=ITEM_ID)
    joined[RETRIEVAL_RANK] = [0, 1, 0, 2]
    pd.testing.assert_frame_equal(
        ranker_feature_frame(None, None, joined),
        ranker_feature_frame(USERS.reset_index(), ITEMS.reset_index(), joined),
    )


def test_recency_and_co_visitation_reach_the_matrix_as_given() -> None:
    matrix = ranker_feature_frame(USERS, ITEMS, PAIRS)
    assert matrix[fc.USER_DAYS_SINCE_LAST].tolist() == [2.5, 2.5, 30.0, 2.5]
    assert matrix[fc.COVISIT_SCORE].tolist() == [0.0, 1.5, 0.25, 0.0]
    without = ranker_feature_frame(USERS, ITEMS, PAIRS.drop(columns=fc.COVISIT_SCORE))
    assert without[fc.COVISIT_SCORE].tolist() == [DEFAULT_FEATURES[fc.COVISIT_SCORE]] * 4
