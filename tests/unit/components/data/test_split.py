import pandas as pd
import pytest

from components.data.split import temporal_split


def test_split_follows_the_protocol_with_item_id_tie_break() -> None:
    ts = pd.to_datetime([100, 100, 100, 100, 100, 200, 300, 300, 400, 500], unit="s", utc=True)
    heavy = pd.DataFrame(
        {
            "user_id": 1,
            "item_id": [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
            "event_type": "view",
            "timestamp": ts,
        }
    )
    light = pd.DataFrame(
        {"user_id": 2, "item_id": [1, 2, 3, 4], "event_type": "view", "timestamp": ts[:4]}
    )
    train, test = temporal_split(pd.concat([heavy, light], ignore_index=True))
    # user 1: 10 events, sorted by (timestamp, item_id); test = index floor(0.8*10)=8 onwards
    assert sorted(test[test.user_id == 1].item_id) == [0, 1]
    assert set(train[train.user_id == 1].item_id) == {2, 3, 4, 5, 6, 7, 8, 9}
    # user 2 has fewer than 5 interactions: all in train
    assert (test.user_id == 2).sum() == 0 and (train.user_id == 2).sum() == 4


def test_ties_in_timestamp_are_broken_by_item_id() -> None:
    ts = pd.to_datetime([100] * 5, unit="s", utc=True)
    frame = pd.DataFrame(
        {"user_id": 1, "item_id": [50, 40, 30, 20, 10], "event_type": "view", "timestamp": ts}
    )
    _, test = temporal_split(frame)
    assert test.item_id.tolist() == [50]


# --- boundaries, stability, speed ---------------------------------------------------------------

import time  # noqa: E402

import numpy as np  # noqa: E402

from components.data.columns import EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID  # noqa: E402


def _user(user: int, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            USER_ID: user,
            ITEM_ID: np.arange(n),
            EVENT_TYPE: "view",
            TIMESTAMP: pd.to_datetime(np.arange(n) * 60, unit="s", utc=True),
        }
    )


@pytest.mark.parametrize(("n", "n_test"), [(4, 0), (5, 1), (9, 2), (10, 2), (14, 3), (15, 3)])
def test_test_size_is_n_minus_floor_of_eighty_percent(n: int, n_test: int) -> None:
    train, test = temporal_split(_user(7, n))
    assert len(test) == n_test == n - (n * 4 // 5 if n >= 5 else n)
    assert len(train) + len(test) == n
    if n_test:
        assert test[TIMESTAMP].min() >= train[TIMESTAMP].max()


def test_exact_ties_keep_input_order_and_input_order_does_not_matter_otherwise() -> None:
    # same user, item and second: view then click; the later row in the input is the later event
    frame = _user(1, 5)
    frame.loc[4, [ITEM_ID, TIMESTAMP]] = [3, frame.loc[3, TIMESTAMP]]
    frame.loc[4, EVENT_TYPE] = "click"
    _, test = temporal_split(frame)
    assert test[EVENT_TYPE].tolist() == ["click"]

    many = pd.concat([_user(u, 6 + u) for u in range(20)], ignore_index=True)
    shuffled = many.sample(frac=1.0, random_state=0)
    for a, b in zip(temporal_split(many), temporal_split(shuffled), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_split_is_vectorised_and_fast_on_100k_rows() -> None:
    rng = np.random.default_rng(0)
    n = 100_000
    frame = pd.DataFrame(
        {
            USER_ID: rng.integers(0, 600, n),
            ITEM_ID: rng.integers(0, 9_000, n),
            EVENT_TYPE: "rating",
            TIMESTAMP: pd.to_datetime(rng.integers(0, 10**6, n), unit="s", utc=True),
        }
    )
    began = time.perf_counter()
    train, test = temporal_split(frame)
    assert time.perf_counter() - began < 2.0
    assert len(train) + len(test) == n
    per_user = frame.groupby(USER_ID).size()
    expected = (per_user - np.floor(per_user * 0.8)).where(per_user >= 5, 0).sum()
    assert len(test) == expected
