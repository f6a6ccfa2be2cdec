import pandas as pd
import pytest

from components.data.validation import DataValidationError, check_interactions, validate_dataset

NOW = pd.Timestamp("2026-06-01", tz="UTC")


def _events(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "user_id": [1, 1, 2],
            "item_id": [10, 11, 10],
            "event_type": ["view", "click", "purchase"],
            "timestamp": pd.to_datetime([1_700_000_000, 1_700_000_100, 1_700_000_200], unit="s"),
        }
    )
    for key, value in overrides.items():
        frame[key] = value
    return frame


def _items() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": [10, 11],
            "title": ["a", "b"],
            "categories": ["Action|Comedy", ""],
            "available": [True, False],
            "created_at": pd.to_datetime([1_600_000_000, 1_600_000_000], unit="s", utc=True),
        }
    )


def test_clean_data_passes_with_the_contract_dtypes() -> None:
    events, items = validate_dataset(_events(), _items(), "ok.parquet", now=NOW)
    assert str(events["timestamp"].dt.tz) == "UTC"
    assert events["user_id"].dtype == "int64" and len(events) == 3
    assert items["available"].dtype == bool


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (_events().drop(columns=["event_type"]), "event_type"),
        (_events(user_id=[1, None, 2]), "null"),
        (_events(event_type=["view", "teleport", "click"]), "teleport"),
        (
            _events(timestamp=pd.to_datetime(["2026-01-01", "2026-01-02", "2030-01-01"])),
            "future",
        ),
        (_events().iloc[0:0], "empty"),
    ],
    ids=["missing-column", "null-id", "unknown-event-type", "future-timestamp", "empty"],
)
def test_bad_data_fails_with_a_message_naming_file_and_reason(frame, message) -> None:
    with pytest.raises(DataValidationError) as error:
        validate_dataset(frame, _items(), "bad.parquet", now=NOW)
    assert "bad.parquet" in str(error.value)
    assert message in str(error.value).lower()


def test_unknown_event_type_names_the_row() -> None:
    with pytest.raises(DataValidationError, match="row") as error:
        validate_dataset(_events(event_type=["view", "teleport", "click"]), _items(), "f", NOW)
    assert error.value.rows == [1]


def test_duplicates_are_counted_and_dropped() -> None:
    frame = pd.concat([_events(), _events().iloc[[0]]], ignore_index=True)
    clean, report = check_interactions(frame, "dups.parquet", now=NOW)
    assert len(clean) == 3
    assert report.duplicates_dropped == 1 and report.rows_in == 4


def test_interactions_must_reference_catalog_items() -> None:
    with pytest.raises(DataValidationError, match="not in the item catalog"):
        validate_dataset(_events(item_id=[10, 99, 10]), _items(), "f", NOW)
