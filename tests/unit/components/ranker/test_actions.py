"""Actions, their labels and the combination, checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from components.data.events import EventSemantics, EventTable, event_weights
from components.ranker.actions import (
    action_weights,
    combine,
    dominant_actions,
    event_actions,
    pair_actions,
)

DEFAULTS = EventTable()
ROWS = pd.DataFrame(
    {
        "user_id": [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2],
        "item_id": [10, 10, 11, 12, 13, 10, 11, 12, 13, 14, 15],
        "event_type": [
            "click",
            "purchase",
            "impression_skip",
            "view",
            "view",
            "rating",
            "rating",
            "rating",
            "rating",
            "view",
            "add_to_cart",
        ],
        "value": [None, None, None, 3.0, 12.0, 4.5, 3.0, 2.5, None, None, None],
    }
)


def test_the_default_table_yields_these_actions_and_weights() -> None:
    assert action_weights(DEFAULTS) == {
        "view": 0.3,
        "view_lt5": -0.3,
        "click": 1.0,
        "add_to_cart": 3.0,
        "purchase": 5.0,
        "rating": 1.0,
        "rating_ge3": 1.0,
        "rating_ge4": 2.0,
        "rating_lt3": -1.0,
        "impression_skip": -1.0,
    }


def test_each_event_has_one_action_positive_exactly_when_the_event_is() -> None:
    actions = event_actions(ROWS, DEFAULTS)
    assert actions.tolist() == [
        "click",
        "purchase",
        "impression_skip",
        "view_lt5",  # a 3 s view
        "view",  # a 12 s view
        "rating_ge4",  # 4.5 reaches 4
        "rating_ge3",
        "rating_lt3",
        "rating",  # no value
        "view",  # no dwell: a plain view
        "add_to_cart",
    ]
    weights = action_weights(DEFAULTS)
    _, positive = event_weights(ROWS, DEFAULTS)
    assert [weights[a] > 0 for a in actions] == positive.tolist()


def test_pair_actions_gather_every_action_of_a_pair() -> None:
    taken = pair_actions(ROWS, DEFAULTS)
    assert taken[1][10] == {"click", "purchase"}
    assert taken[2][12] == {"rating_lt3"}
    with pytest.raises(ValueError, match="not in the event table"):
        pair_actions(ROWS.assign(event_type="share"), DEFAULTS)


def test_an_override_renames_and_reweighs_actions() -> None:
    table = EventTable(
        {
            "rating": EventSemantics(weight=1.0, min_value=3.5, negative_weight=2.0),
            "impression_skip": EventSemantics(positive=False, negative_weight=0.5),
        }
    )
    weights = action_weights(table)
    assert weights["rating"] == 1.0 and weights["rating_lt3.5"] == -2.0
    assert "rating_ge4" not in weights and weights["impression_skip"] == -0.5
    assert event_actions(ROWS, table)[5:9].tolist() == [
        "rating",
        "rating_lt3.5",
        "rating_lt3.5",
        "rating",
    ]


def test_combination_is_the_weighted_sum_of_probabilities() -> None:
    # columns: click (1), purchase (5), skip (-1)
    p = np.array([[0.5, 0.2, 0.1], [0.9, 0.0, 0.8], [0.0, 0.0, 0.0]])
    w = np.array([1.0, 5.0, -1.0])
    # 0.5 + 1.0 - 0.1 = 1.4; 0.9 + 0 - 0.8 = 0.1; 0
    np.testing.assert_allclose(combine(p, w), [1.4, 0.1, 0.0])
    # the last row: nothing adds to its score, so no action to name
    assert dominant_actions(p, w, ["click", "purchase", "skip"]) == ["purchase", "click", ""]
    with pytest.raises(ValueError, match="do not match"):
        combine(p, w[:2])


def test_the_synthetic_shop_exercises_positive_and_negative_heads() -> None:
    from components.data.synthetic import generate_synthetic

    interactions, _ = generate_synthetic(n_users=150, n_items=120, seed=1)
    present = set(event_actions(interactions, DEFAULTS))
    weights = action_weights(DEFAULTS)
    assert {"click", "add_to_cart", "purchase", "view", "impression_skip"} <= present
    assert {"view_lt5", "rating_lt3", "rating_ge4"} <= present
    assert present <= set(weights)
