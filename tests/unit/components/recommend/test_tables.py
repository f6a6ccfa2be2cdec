import pandas as pd

from components.data.columns import ITEM_ID, USER_ID
from components.recommend.tables import (
    FIRST_POSITIVE,
    LAST_SEEN,
    NEIGHBOUR_ID,
    SCORE,
    build_serving_tables,
    load_serving_tables,
    save_serving_tables,
)


def test_popularity_counts_recent_positives_and_covers_the_catalog(interactions, items):
    tables = build_serving_tables(interactions, items, window_days=30)
    pop = tables.popularity.set_index(ITEM_ID)[SCORE]
    assert len(pop) == len(items)  # items without events are there too (score 0)
    assert 0.6 - 1e-9 < pop[1] < 0.61  # two recent views of weight 0.3 (+ tiny all-time term)
    assert pop[4] > pop[2] > pop[1]  # one purchase (5) > a click and a view (1.3) > two views
    assert pop[5] == 0  # an impression skip is not a positive
    assert 0 < pop[7] < 0.01  # 60 days old: outside the window, all-time term only
    assert tables.popularity[SCORE].is_monotonic_decreasing


def test_covisitation_pairs_neighbours_in_both_directions_weighted_by_gap(interactions, items):
    tables = build_serving_tables(interactions, items, covisit_days=None, covisit_distance=2)
    cov = tables.covisitation.set_index([ITEM_ID, NEIGHBOUR_ID])[SCORE]
    assert cov[(1, 2)] == cov[(2, 1)] == 2.0  # adjacent for users 1 and 2
    assert cov[(1, 3)] == 0.5  # gap 2 for user 1
    assert (7, 8) in cov.index  # all-time window keeps user 3's old pair
    recent = build_serving_tables(interactions, items, covisit_days=30).covisitation
    assert not ((recent[ITEM_ID] == 7) & (recent[NEIGHBOUR_ID] == 8)).any()


def test_seen_keeps_every_event_type_and_its_latest_time(interactions, items):
    seen = build_serving_tables(interactions, items).seen
    assert set(seen[seen[USER_ID] == 2][ITEM_ID]) == {1, 2, 4, 5}  # the skip counts as seen
    assert str(seen[LAST_SEEN].dtype).startswith("datetime64")
    skip = seen[(seen[USER_ID] == 2) & (seen[ITEM_ID] == 5)]
    assert skip[FIRST_POSITIVE].isna().all()  # seen, but never a positive
    assert seen[(seen[USER_ID] == 2) & (seen[ITEM_ID] != 5)][FIRST_POSITIVE].notna().all()


def test_tables_round_trip_through_a_folder(interactions, items, tmp_path):
    tables = build_serving_tables(interactions, items, window_days=7)
    loaded = load_serving_tables(save_serving_tables(tables, tmp_path / "t"))
    assert loaded.window_days == 7
    pd.testing.assert_frame_equal(loaded.popularity, tables.popularity)
    pd.testing.assert_frame_equal(loaded.covisitation, tables.covisitation)
    assert len(loaded.seen) == len(tables.seen)
