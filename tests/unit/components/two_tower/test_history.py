import numpy as np

from components.data.columns import EVENT_TYPE, ITEM_ID, USER_ID
from components.two_tower.history import (
    history_matrix,
    positive_interactions,
    recent_positive_items,
)


def _histories_by_example(frame, length):
    positives = positive_interactions(frame)
    matrix, lengths = history_matrix(
        positives[USER_ID].to_numpy(), positives[ITEM_ID].to_numpy(), length
    )
    return {
        (int(u), int(i)): row[:n].tolist()
        for u, i, row, n in zip(
            positives[USER_ID], positives[ITEM_ID], matrix, lengths, strict=True
        )
    }


def test_history_holds_only_earlier_items_most_recent_first(make_interactions):
    # user 1 (rows out of order on purpose): 10 @ t=1, 20 @ t=2, 30 @ t=3, 40 @ t=4
    frame = make_interactions([(1, 30, 3), (1, 10, 1), (2, 99, 5), (1, 40, 4), (1, 20, 2)])
    got = _histories_by_example(frame, length=2)
    assert got[(1, 10)] == []
    assert got[(1, 20)] == [10]
    assert got[(1, 30)] == [20, 10]
    assert got[(1, 40)] == [30, 20]  # truncated to the 2 most recent
    assert got[(2, 99)] == []  # another user's items never leak in
    for (_, target), history in got.items():
        assert target not in history


def test_ties_follow_the_protocol_order_by_item_id(make_interactions):
    frame = make_interactions([(1, 7, 0), (1, 5, 0), (1, 6, 0)])
    got = _histories_by_example(frame, length=5)
    assert got == {(1, 5): [], (1, 6): [5], (1, 7): [6, 5]}


def test_repeated_events_count_once_and_skips_are_not_positives(make_interactions):
    frame = make_interactions([(1, 10, 1), (1, 20, 2), (1, 10, 3), (1, 30, 4)])
    frame.loc[3, EVENT_TYPE] = "impression_skip"
    positives = positive_interactions(frame)
    assert positives[ITEM_ID].tolist() == [10, 20]
    got = _histories_by_example(frame, length=5)
    assert got == {(1, 10): [], (1, 20): [10]}


def test_recent_positive_items_are_latest_distinct_items_most_recent_first(make_interactions):
    frame = make_interactions(
        [(1, 10, 1), (1, 20, 2), (1, 30, 3), (1, 20, 4), (2, 50, 1), (2, 60, 9)]
    )
    histories = recent_positive_items(frame, history_length=2)
    assert histories == {1: [30, 20], 2: [60, 50]}
    assert recent_positive_items(frame.iloc[:0], 3) == {}


def test_history_matrix_handles_empty_input():
    matrix, lengths = history_matrix(np.zeros(0, np.int64), np.zeros(0, np.int64), 3)
    assert matrix.shape == (0, 3) and lengths.shape == (0,)


def test_a_pair_keeps_its_strongest_positive_and_all_negative_pairs_are_dropped(
    make_interactions,
):
    frame = make_interactions([(1, 10, 1), (1, 10, 2), (1, 20, 3), (1, 30, 4), (1, 30, 5)])
    frame[EVENT_TYPE] = ["view", "purchase", "impression_skip", "click", "impression_skip"]
    positives = positive_interactions(frame)
    assert positives[ITEM_ID].tolist() == [10, 30]
    assert positives["weight"].tolist() == [5.0, 1.0]
    assert recent_positive_items(frame, 5) == {1: [30, 10]}


def test_a_skip_never_enters_a_history(make_interactions):
    frame = make_interactions([(1, 10, 1), (1, 20, 2), (1, 30, 3)])
    frame.loc[1, EVENT_TYPE] = "impression_skip"
    assert recent_positive_items(frame, 5) == {1: [30, 10]}
    assert _histories_by_example(frame, 5) == {(1, 10): [], (1, 30): [10]}
