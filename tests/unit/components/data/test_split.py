import pandas as pd

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
