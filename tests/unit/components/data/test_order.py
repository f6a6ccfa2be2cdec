"""Users are visited in an order set by their events, never by their keyed ids."""

import numpy as np
import pandas as pd

from components.data.columns import ITEM_ID, TIMESTAMP, USER_ID
from components.data.order import ordered_users, user_order
from components.data.synthetic import generate_synthetic
from components.privacy.ids import UserIds


def test_two_id_keys_give_the_same_users_in_the_same_order():
    interactions, _ = generate_synthetic(n_users=50, n_items=40, interactions_per_user=8)
    first = UserIds(b"a key of sixteen bytes or more").frame(interactions)
    second = UserIds(b"another key, also long enough").frame(interactions)
    assert set(first[USER_ID]).isdisjoint(set(second[USER_ID]))  # really other ids
    raw_of = {
        key: dict(zip(frame[USER_ID], interactions[USER_ID], strict=True))
        for key, frame in (("first", first), ("second", second))
    }
    in_first = [raw_of["first"][u] for u in ordered_users(first)]
    in_second = [raw_of["second"][u] for u in ordered_users(second)]
    assert in_first == in_second
    # not the order of either key's ids (that would make the key a seed)
    assert ordered_users(first) != sorted(ordered_users(first))
    assert ordered_users(second) != sorted(ordered_users(second))


def test_codes_point_each_row_at_its_user_and_ignore_the_row_order():
    frame = pd.DataFrame(
        {
            USER_ID: [900, 5, 900, 7, 5],
            ITEM_ID: [1, 2, 3, 1, 4],
            TIMESTAMP: pd.to_datetime([30, 10, 40, 10, 50], unit="s", utc=True),
        }
    )
    codes, users = user_order(frame)
    assert (users[codes] == frame[USER_ID].to_numpy()).all()
    # first event time first; users 5 and 7 start together: the one with more events is later
    assert users.tolist() == [7, 5, 900]
    shuffled = frame.sample(frac=1.0, random_state=3)
    assert user_order(shuffled)[1].tolist() == users.tolist()


def test_users_with_equal_starts_and_counts_are_told_apart_by_their_events():
    stamps = pd.to_datetime([10, 20, 10, 20], unit="s", utc=True)
    frame = pd.DataFrame({USER_ID: [1, 1, 2, 2], ITEM_ID: [5, 6, 5, 7], TIMESTAMP: stamps})
    relabelled = frame.assign(**{USER_ID: frame[USER_ID].map({1: 2, 2: 1})})
    by_items = [
        tuple(f.loc[f[USER_ID] == u, ITEM_ID])
        for f in (frame, relabelled)
        for u in user_order(f)[1]
    ]
    assert by_items[:2] == by_items[2:]  # the same event lists, in the same order
    assert np.asarray(user_order(frame.iloc[:0])[1]).size == 0
