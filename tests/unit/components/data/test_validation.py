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


# --- more rules: ids, timestamps, duplicates, items -------------------------------------------

import logging  # noqa: E402

from components.data.columns import (  # noqa: E402
    AVAILABLE,
    CATEGORIES,
    CONTEXT,
    CREATED_AT,
    EVENT_TYPE,
    ITEM_ID,
    TIMESTAMP,
    TITLE,
    USER_ID,
    VALUE,
)
from components.data.validation import (  # noqa: E402
    check_items,
    validate_interactions,
    validate_items,
)


def test_epoch_seconds_and_naive_datetimes_become_utc() -> None:
    epoch = validate_interactions(
        _events(timestamp=[1_700_000_000, 1_700_000_100, 1_700_000_200]), "f", NOW
    )
    naive = validate_interactions(_events(), "f", NOW)
    assert str(epoch[TIMESTAMP].dtype) == "datetime64[ns, UTC]"
    pd.testing.assert_series_equal(epoch[TIMESTAMP], naive[TIMESTAMP])
    berlin = _events(timestamp=_events()[TIMESTAMP].dt.tz_localize("Europe/Berlin"))
    shifted = validate_interactions(berlin, "f", NOW)[TIMESTAMP]
    assert (naive[TIMESTAMP] - shifted == pd.Timedelta(hours=1)).all()


def test_optional_columns_are_typed_and_extra_columns_dropped() -> None:
    frame = _events(context=["mobile", None, 3], value=["4.5", None, 1], request_id="x")
    clean = validate_interactions(frame, "f", NOW)
    assert list(clean.columns) == [USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP, CONTEXT, VALUE]
    assert clean[CONTEXT].tolist() == ["mobile", None, "3"]
    assert clean[VALUE].dtype == "float64" and clean[VALUE].iloc[0] == 4.5


@pytest.mark.parametrize(
    ("column", "values", "message", "rows"),
    [
        (ITEM_ID, [10, 11.5, 10], "11.5", [1]),
        (USER_ID, ["1", "bob", "2"], "'bob'", [1]),
        (ITEM_ID, [10, None, None], "item_id is null", [1, 2]),
        (TIMESTAMP, [1_700_000_000, 1_700_000_000_000, 1_700_000_000], "milliseconds", [1]),
        (TIMESTAMP, ["2026-01-01", "yesterday", "2026-01-02"], "'yesterday'", [1]),
        (EVENT_TYPE, ["view", None, "click"], "event_type is null", [1]),
        (VALUE, [1.0, "five", 2.0], "'five'", [1]),
    ],
)
def test_bad_values_name_value_and_rows(column, values, message, rows) -> None:
    with pytest.raises(DataValidationError) as error:
        validate_interactions(_events(**{column: values}), "in.csv", NOW)
    assert error.value.rows == rows and error.value.source == "in.csv"
    assert message in str(error.value)
    assert str(error.value).startswith("in.csv: row")


def test_future_is_relative_to_now_with_a_small_tolerance() -> None:
    ts = [NOW - pd.Timedelta(days=1), NOW + pd.Timedelta(minutes=1), NOW + pd.Timedelta(hours=1)]
    with pytest.raises(DataValidationError, match="future") as error:
        validate_interactions(_events(timestamp=ts), "f", NOW)
    assert error.value.rows == [2]
    # the default "now" is the wall clock: a 2030 event is refused without passing one
    with pytest.raises(DataValidationError, match="future"):
        validate_interactions(_events(timestamp=pd.to_datetime(["2030-01-01"] * 3)), "f")


def test_many_bad_rows_are_summarised() -> None:
    frame = pd.concat([_events()] * 4, ignore_index=True)
    frame[EVENT_TYPE] = "teleport"
    with pytest.raises(DataValidationError) as error:
        validate_interactions(frame, "big.parquet", NOW)
    assert "rows 0, 1, 2, 3, 4 (and 7 more)" in str(error.value)


def test_duplicates_log_a_warning_with_count_and_source(caplog) -> None:
    frame = pd.concat([_events(), _events(), _events().iloc[[2]]], ignore_index=True)
    with caplog.at_level(logging.WARNING, logger="components.data.validation"):
        clean, report = check_interactions(frame, "dups.parquet", NOW)
    assert (report.rows_in, report.rows_out, report.duplicates_dropped) == (7, 3, 4)
    assert clean.index.tolist() == [0, 1, 2]
    assert "dups.parquet" in caplog.text and "4 exact duplicate" in caplog.text
    # same user/item/time but another event type is not a duplicate
    assert len(validate_interactions(_events(event_type=["view"] * 3, item_id=10), "f", NOW)) == 3


def test_items_are_coerced_to_the_contract() -> None:
    raw = _items().assign(
        title=["a", None],
        categories=[["Action", "Comedy"], None],
        available=["yes", 0],
        created_at=[1_600_000_000, 1_600_000_000],
    )
    items, report = check_items(raw, "items.parquet")
    assert items[TITLE].tolist() == ["a", ""]
    assert items[CATEGORIES].tolist() == ["Action|Comedy", ""]
    assert items[AVAILABLE].tolist() == [True, False] and items[AVAILABLE].dtype == bool
    assert str(items[CREATED_AT].dtype) == "datetime64[ns, UTC]"
    assert report.rows_out == 2


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (_items().drop(columns=[CREATED_AT]), "created_at"),
        (_items().assign(item_id=[10, None]), "item_id is null"),
        (_items().assign(item_id=[10, 10]), "duplicate item_id 10"),
        (_items().assign(available=[True, "maybe"]), "'maybe'"),
        (_items().iloc[0:0], "empty"),
    ],
    ids=["missing-column", "null-id", "duplicate-id", "bad-bool", "empty"],
)
def test_bad_items_fail_naming_file_and_reason(frame, message) -> None:
    with pytest.raises(DataValidationError) as error:
        validate_items(frame, "items.parquet")
    assert str(error.value).startswith("items.parquet:")
    assert message in str(error.value)


def test_unknown_catalog_items_are_named() -> None:
    with pytest.raises(DataValidationError) as error:
        validate_dataset(_events(item_id=[10, 99, 98]), _items(), "shop", NOW)
    assert "2 item_id(s)" in str(error.value) and "99, 98" in str(error.value)
    assert error.value.rows == [1, 2]


def test_retried_events_with_the_same_event_id_are_kept_once() -> None:
    # A retry without a timestamp gets a new one, so only the id says it is the same event.
    frame = _events(event_id=["a", None, None])
    retry = _events(event_id=["a", None, "c"]).assign(
        timestamp=frame["timestamp"] + pd.Timedelta(1, "h")
    )
    clean, report = check_interactions(pd.concat([frame, retry], ignore_index=True), "f", NOW)
    assert report.duplicates_dropped == 1 and len(clean) == 5
    assert clean["event_id"].tolist() == ["a", None, None, None, "c"]  # no id: never merged
    assert "event_id" not in check_interactions(_events(), "f", NOW)[0].columns
