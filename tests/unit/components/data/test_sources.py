from pathlib import Path

import pandas as pd
import pytest

from components.data.io import append_events, load_source, read_dataset, write_dataset
from components.data.movielens import load_movielens
from components.data.synthetic import generate_synthetic
from components.data.validation import DataValidationError

MOVIELENS = Path(__file__).parents[4].parent / "shared" / "data" / "ml-latest-small"


def test_synthetic_is_deterministic_and_valid() -> None:
    a_events, a_items = generate_synthetic(n_users=50, n_items=40, seed=3)
    b_events, b_items = generate_synthetic(n_users=50, n_items=40, seed=3)
    pd.testing.assert_frame_equal(a_events, b_events)
    pd.testing.assert_frame_equal(a_items, b_items)
    assert (~a_items["available"]).any(), "some items are unavailable"
    assert not set(a_items["item_id"]) <= set(a_events["item_id"]), "some items are new"


def test_drift_knob_moves_the_category_mix() -> None:
    def category_share(drift: float) -> pd.Series:
        events, items = generate_synthetic(n_users=300, n_items=200, seed=0, drift=drift)
        first = items.set_index("item_id")["categories"].str.split("|").str[0]
        return events["item_id"].map(first).value_counts(normalize=True)

    calm, drifted = category_share(0.0), category_share(1.0)
    gap = (calm - drifted.reindex(calm.index, fill_value=0)).abs().sum()
    assert gap > 0.2


def test_load_source_parses_synthetic_options() -> None:
    events, items = load_source("synthetic:n_users=20,n_items=30,seed=2")
    assert events["user_id"].nunique() <= 20 and len(items) == 30
    with pytest.raises(ValueError, match="key=value"):
        load_source("synthetic:oops")


def test_event_log_round_trip(tmp_path: Path) -> None:
    events, items = generate_synthetic(n_users=20, n_items=30, seed=1)
    write_dataset(tmp_path, events, items)
    extra = events.iloc[:3].assign(timestamp=events["timestamp"].max())
    written = append_events(tmp_path / "events", extra)
    assert written.suffix == ".parquet" and not list((tmp_path / "events").glob(".*"))
    again, _ = read_dataset(tmp_path)
    assert len(again) == len(events) + 3  # appended events are read back


def test_a_folder_without_data_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError):
        load_source(str(tmp_path))


@pytest.mark.skipif(not MOVIELENS.exists(), reason="shared data set not present")
def test_movielens_latest_small_counts() -> None:
    events, items = load_movielens(MOVIELENS)
    assert len(events) == 100836
    assert events["user_id"].nunique() == 610
    assert len(items) == 9742


def test_string_ids_load_raw_without_a_key_and_validated_with_one(tmp_path) -> None:
    from components.data.columns import EXTERNAL_ID, INTERACTIONS_FILE, ITEMS_FILE, USER_ID
    from components.privacy.ids import UserIds

    users = UserIds(b"test-key-0123456789")
    source = "synthetic:n_users=20,n_items=30,seed=2,string_ids=true"
    raw, _ = load_source(source)
    assert raw[USER_ID].str.startswith("user-").all()  # no int64 form before the key
    events, items = load_source(source, users=users)
    assert events[USER_ID].tolist() == [users(u) for u in raw[USER_ID]]
    assert items[EXTERNAL_ID].str.startswith("SKU-").all()
    # a dataset folder of the same raw files: string user ids are hashed before validation
    raw_items = load_source(source)[1]
    raw.to_parquet(tmp_path / INTERACTIONS_FILE, index=False)
    raw_items.to_parquet(tmp_path / ITEMS_FILE, index=False)
    from_folder, folder_items = read_dataset(tmp_path, users=users)
    pd.testing.assert_frame_equal(from_folder, events)
    assert folder_items[EXTERNAL_ID].tolist() == items[EXTERNAL_ID].tolist()
    with pytest.raises(DataValidationError, match="user_id"):  # without a key: refused
        read_dataset(tmp_path)
    raw.assign(**{USER_ID: [None, *raw[USER_ID].iloc[1:]]}).to_parquet(tmp_path / INTERACTIONS_FILE)
    with pytest.raises(DataValidationError, match="user_id must be integers or strings"):
        read_dataset(tmp_path, users=users)
