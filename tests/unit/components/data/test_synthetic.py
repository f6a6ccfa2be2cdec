import numpy as np
import pandas as pd
import pytest

from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    CATEGORY_SEPARATOR,
    CREATED_AT,
    EVENT_TYPE,
    ITEM_ID,
    TIMESTAMP,
    USER_ID,
)
from components.data.split import temporal_split
from components.data.synthetic import generate_synthetic
from components.data.validation import validate_dataset

SMALL = {"n_users": 300, "n_items": 200, "interactions_per_user": 30}


@pytest.fixture(scope="module")
def shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_synthetic(**SMALL, seed=1)


def test_output_validates_against_the_real_clock(shop) -> None:
    events, items = shop
    again, again_items = validate_dataset(events, items, "synthetic")  # now = wall clock
    pd.testing.assert_frame_equal(again, events)
    pd.testing.assert_frame_equal(again_items, items)
    begin, end = pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-04-01", tz="UTC")
    assert events[TIMESTAMP].between(begin, end).all()


def test_shape_of_the_shop(shop) -> None:
    events, items = shop
    mix = events[EVENT_TYPE].value_counts(normalize=True)
    assert mix["view"] > mix["click"] > mix["add_to_cart"] > mix["purchase"] > 0.01
    assert 20 < len(events) / events[USER_ID].nunique() < 40
    n_cats = items[CATEGORIES].str.split(CATEGORY_SEPARATOR, regex=False).str.len()
    assert n_cats.min() == 1 and n_cats.max() == 3
    assert (~items[AVAILABLE]).sum() == 10  # 5 % of 200
    new = items[~items[ITEM_ID].isin(events[ITEM_ID])]
    assert len(new) >= 6 and (new[CREATED_AT] > events[TIMESTAMP].quantile(0.9)).sum() >= 6
    first_seen = events.groupby(ITEM_ID)[TIMESTAMP].min()
    assert (items.set_index(ITEM_ID)[CREATED_AT].reindex(first_seen.index) <= first_seen).all()
    popularity = events[ITEM_ID].value_counts()
    assert popularity.iloc[:20].sum() > 3 * popularity.iloc[-20:].sum()  # a head and a tail


def test_same_seed_same_world_other_seed_other_world(shop) -> None:
    events, items = shop
    again_events, again_items = generate_synthetic(**SMALL, seed=1)
    pd.testing.assert_frame_equal(events, again_events)
    other_events, other_items = generate_synthetic(**SMALL, seed=2)
    assert not other_items[CATEGORIES].equals(items[CATEGORIES])
    drifted_events, drifted_items = generate_synthetic(**SMALL, seed=1, drift=0.5)
    pd.testing.assert_frame_equal(drifted_items, items)  # drift moves behaviour, not the world
    later, _ = generate_synthetic(**SMALL, seed=1, start="2026-04-01", days=30)
    assert later[TIMESTAMP].min() >= pd.Timestamp("2026-04-01", tz="UTC")
    assert later[EVENT_TYPE].value_counts().to_dict() != events[EVENT_TYPE].value_counts().to_dict()


def _shares(events: pd.DataFrame, items: pd.DataFrame) -> pd.Series:
    primary = items.set_index(ITEM_ID)[CATEGORIES].str.split(CATEGORY_SEPARATOR).str[0]
    return events[ITEM_ID].map(primary).value_counts(normalize=True)


def _distance(a: pd.Series, b: pd.Series) -> float:
    return 0.5 * float(a.sub(b, fill_value=0.0).abs().sum())


def test_drift_moves_category_share_popularity_head_and_event_mix(shop) -> None:
    events, items = shop
    calm, _ = generate_synthetic(**SMALL, seed=1, start="2026-04-01", days=30)
    drifted, _ = generate_synthetic(**SMALL, seed=1, drift=0.7, start="2026-04-01", days=30)
    noise = _distance(_shares(events, items), _shares(calm, items))
    moved = _distance(_shares(events, items), _shares(drifted, items))
    assert moved > 0.1 and moved > 3 * noise
    mix = events[EVENT_TYPE].value_counts(normalize=True)
    assert drifted[EVENT_TYPE].value_counts(normalize=True)["click"] > mix["click"] + 0.05

    def head(frame: pd.DataFrame) -> set[int]:
        return set(frame[ITEM_ID].value_counts().index[:20])

    assert len(head(events) & head(drifted)) < len(head(events) & head(calm))
    with pytest.raises(ValueError, match="drift"):
        generate_synthetic(n_users=5, n_items=5, drift=1.5)


def _recall_at_10(train: pd.DataFrame, test: pd.DataFrame, scores: np.ndarray) -> float:
    seen = train.groupby(USER_ID)[ITEM_ID].apply(set)
    truth = test.groupby(USER_ID)[ITEM_ID].apply(set)
    recalls = []
    for user, relevant in truth.items():
        relevant = relevant - seen.get(user, set())
        if not relevant:
            continue
        s = scores[user].astype(float).copy()
        s[list(seen.get(user, set()))] = -np.inf
        top = set(np.argsort(-s, kind="stable")[:10].tolist())
        recalls.append(len(relevant & top) / min(len(relevant), 10))
    return float(np.mean(recalls))


def test_co_occurrence_beats_popularity(shop) -> None:
    events, items = shop
    train, test = temporal_split(events)
    x = np.zeros((events[USER_ID].max() + 1, items[ITEM_ID].max() + 1))
    x[train[USER_ID], train[ITEM_ID]] = 1.0
    popularity = np.tile(x.sum(axis=0), (len(x), 1))
    norms = np.sqrt(x.sum(axis=0)) + 1e-9
    similarity = (x.T @ x) / norms[:, None] / norms[None, :]
    np.fill_diagonal(similarity, 0.0)
    pop = _recall_at_10(train, test, popularity)
    knn = _recall_at_10(train, test, x @ similarity)
    assert knn > 1.5 * pop, (knn, pop)


def test_every_event_type_appears_and_skips_and_low_ratings_are_negatives(shop) -> None:
    from components.data.columns import EVENT_TYPES, VALUE
    from components.data.events import EventTable, event_weights

    events, _ = shop
    assert set(events[EVENT_TYPE]) == set(EVENT_TYPES)
    weight, positive = event_weights(events, EventTable())
    by_type = pd.Series(positive).groupby(events[EVENT_TYPE].to_numpy()).mean()
    assert by_type["impression_skip"] == 0 and by_type["purchase"] == 1
    assert 0 < by_type["view"] < 1 and 0 < by_type["rating"] < 1  # short views, low ratings
    ratings = events.loc[events[EVENT_TYPE] == "rating", VALUE]
    assert ratings.between(0.5, 5).all() and (ratings * 2 == (ratings * 2).round()).all()
    # a skipped item is one the user did not engage with
    pairs = events.groupby([USER_ID, ITEM_ID])[EVENT_TYPE].agg(set)
    assert not any("impression_skip" in s and "view" in s for s in pairs)


def test_string_ids_name_the_same_shop_by_skus_and_user_strings() -> None:
    from components.data.columns import EXTERNAL_ID
    from components.data.item_ids import internal_item_id
    from components.privacy.ids import UserIds

    plain_events, plain_items = generate_synthetic(n_users=30, n_items=40, seed=4)
    events, items = generate_synthetic(n_users=30, n_items=40, seed=4, string_ids=True)
    assert events[ITEM_ID].tolist() == [f"SKU-{i:06d}" for i in plain_events[ITEM_ID]]
    assert events[USER_ID].tolist() == [f"user-{u:06d}" for u in plain_events[USER_ID]]
    assert items[ITEM_ID].tolist() == [f"SKU-{i:06d}" for i in plain_items[ITEM_ID]]
    # raw files: validation maps the SKUs (kept as external_id), pseudonymization the users
    users = UserIds(b"test-key-0123456789")
    clean, clean_items = validate_dataset(users.frame(events), items, "skus")
    assert clean_items[EXTERNAL_ID].tolist() == items[ITEM_ID].tolist()
    assert clean_items[ITEM_ID].tolist() == [internal_item_id(s) for s in items[ITEM_ID]]
    assert clean[USER_ID].nunique() == plain_events[USER_ID].nunique()
    assert len(clean) == len(plain_events)
