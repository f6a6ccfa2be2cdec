"""The co-visitation feature by hand: one function for training and serving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from components.data.columns import ITEM_ID
from components.features.covisitation import covisitation_scores, neighbour_index
from components.recommend.catalog import Catalog
from components.recommend.sources import CandidateSources
from components.recommend.tables import NEIGHBOUR_ID, SCORE

TABLE = pd.DataFrame(
    {
        ITEM_ID: [1, 1, 2, 3],
        NEIGHBOUR_ID: [5, 6, 5, 7],
        SCORE: [2.0, 1.0, 4.0, 8.0],
    }
)


def test_scores_sum_pair_scores_weighted_by_recency_of_the_anchor() -> None:
    index = neighbour_index(TABLE)
    # history most recent first: 2 (position 0), 1 (position 1), 3 (position 2)
    got = covisitation_scores(index, [2, 1, 3], [5, 6, 7, 9])
    # 5: 4.0 / 1 + 2.0 / 2; 6: 1.0 / 2; 7: 8.0 / 3; 9: never co-visited
    assert got.tolist() == pytest.approx([5.0, 0.5, 8.0 / 3, 0.0])


def test_only_the_most_recent_anchors_count() -> None:
    index = neighbour_index(TABLE)
    assert covisitation_scores(index, [2, 1, 3], [7], depth=2).tolist() == [0.0]


def test_no_table_no_history_or_no_candidates_give_zeros() -> None:
    assert covisitation_scores(neighbour_index(None), [1], [5, 6]).tolist() == [0.0, 0.0]
    assert covisitation_scores(neighbour_index(TABLE), [], [5]).tolist() == [0.0]
    assert covisitation_scores(neighbour_index(TABLE), [1], []).shape == (0,)


def test_serving_sources_answer_with_the_same_function() -> None:
    items = pd.DataFrame({ITEM_ID: np.arange(1, 10), "categories": "", "available": True})
    popularity = pd.DataFrame({ITEM_ID: np.arange(1, 10), SCORE: 1.0})
    sources = CandidateSources(Catalog.from_items(items), popularity, TABLE)
    ids = np.array([5, 6, 7, 9])
    expected = covisitation_scores(neighbour_index(TABLE), [2, 1, 3], ids)
    assert sources.covisit_scores(np.array([2, 1, 3]), ids).tolist() == expected.tolist()


def test_anchors_without_neighbours_and_unknown_candidates_score_zero():
    index = {
        1: (np.zeros(0, dtype=np.int64), np.zeros(0)),
        2: (np.array([7, 9]), np.array([1.0, 2.0])),
    }
    assert covisitation_scores(index, [1], [7, 9]).tolist() == [0.0, 0.0]
    # 2 is the second most recent: its pair scores count half; 3 and 11 co-occur with nothing.
    assert covisitation_scores(index, [3, 2], [11, 9, 7, 3]).tolist() == [0.0, 1.0, 0.5, 0.0]
