"""External item ids -> internal ids: integers pass through, strings hash stably into the
negative range, bad ids are refused with a reason, collisions are refused at ingest."""

from __future__ import annotations

import pandas as pd
import pytest

from components.data import item_ids
from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    CREATED_AT,
    EVENT_TYPE,
    EXTERNAL_ID,
    ITEM_ID,
    TIMESTAMP,
    TITLE,
    USER_ID,
)
from components.data.contract import MAX_ID
from components.data.io import read_dataset, write_dataset
from components.data.item_ids import (
    HASHED_MAX,
    HASHED_MIN,
    answer_ids,
    external_form,
    find_collisions,
    internal_item_id,
    is_hashed,
    map_item_ids,
    try_internal,
)
from components.data.validation import DataValidationError, validate_dataset, validate_items


def test_integers_and_their_decimal_strings_pass_through():
    for value in (1, 42, MAX_ID):
        assert internal_item_id(value) == value
        assert internal_item_id(str(value)) == value
        assert external_form(str(value)) == value  # "42" is the integer 42
        assert not is_hashed(value)


def test_strings_map_to_stable_distinct_negative_ids_clear_of_minus_one():
    skus = ["SKU-0042-BLUE", "007", "0b6f1c2e-7d4a-4e8e-9a51-3c2d1e0f9a77", "a", "A", "x" * 128]
    ids = [internal_item_id(s) for s in skus]
    assert ids == [internal_item_id(s) for s in skus]  # stable (no key, no state)
    assert ids[0] == -8227501500034465938  # the same in every process and release
    assert len(set(ids)) == len(ids)
    assert all(HASHED_MIN <= i <= HASHED_MAX < -1 for i in ids) and all(map(is_hashed, ids))
    assert external_form("007") == "007"  # a leading zero: an SKU, not 7


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (0, "1..9223372036854775807"),
        (-5, "1..9223372036854775807"),
        (2**63, "1..9223372036854775807"),
        ("0", "1..9223372036854775807"),
        ("9223372036854775808", "1..9223372036854775807"),
        ("", "1-128 characters"),
        ("x" * 129, "1-128 characters"),
        ("has space", "must match"),
        ("a/b", "must match"),
        (True, "not bool"),
        (1.5, "not float"),
        (None, "not NoneType"),
    ],
)
def test_bad_ids_are_refused_with_the_reason(raw, reason):
    with pytest.raises(ValueError, match=reason):
        internal_item_id(raw)
    assert try_internal(raw) is None


def test_a_file_column_maps_strings_and_keeps_integers_as_they_are():
    internal, external, errors = map_item_ids(pd.Series(["SKU-1", 5, 7.0, "12", "SKU-1", -9]))
    sku = internal_item_id("SKU-1")
    assert internal.tolist() == [sku, 5, 7, 12, sku, -9]  # -9: an internal id from a log
    assert external.tolist() == ["SKU-1", None, None, None, "SKU-1", None] and errors == []
    _, _, errors = map_item_ids(pd.Series(["ok", "not ok", 2.5]))
    assert [row for row, _ in errors] == [1, 2]
    internal, external, errors = map_item_ids(pd.Series([3, 4], dtype="int64"))
    assert internal.tolist() == [3, 4] and external.isna().all() and not errors


def test_collisions_are_named():
    assert find_collisions([1, -7, -7], [None, "a", "a"]) == []  # one string twice: no clash
    (message,) = find_collisions([1, -7, -7], [None, "a", "b"])
    assert "['a', 'b']" in message and "-7" in message


def test_answers_name_items_by_their_string_where_the_catalog_has_one():
    sku = internal_item_id("SKU-1")
    assert answer_ids([5, sku, internal_item_id("SKU-2")], {sku: "SKU-1"}) == [
        5,
        "SKU-1",
        internal_item_id("SKU-2"),  # unknown here: the internal id, never a wrong name
    ]


def _shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    items = pd.DataFrame(
        {
            ITEM_ID: ["SKU-1", "SKU-2", "3"],
            TITLE: ["Mug", "Cup", "Plate"],
            CATEGORIES: ["Home", "Home", "Kitchen"],
            AVAILABLE: True,
            CREATED_AT: pd.Timestamp("2024-01-01", tz="UTC"),
        }
    )
    day = pd.Timestamp("2024-03-01", tz="UTC")
    interactions = pd.DataFrame(
        {
            USER_ID: [1, 1, 2],
            ITEM_ID: ["SKU-1", "3", "SKU-2"],
            EVENT_TYPE: "view",
            TIMESTAMP: [day, day + pd.Timedelta(hours=1), day],
        }
    )
    return interactions, items


def test_a_catalog_with_string_ids_keeps_them_and_events_map_to_the_same_ids(tmp_path):
    interactions, items = _shop()
    clean, catalog = validate_dataset(interactions, items, "shop")
    sku1, sku2 = internal_item_id("SKU-1"), internal_item_id("SKU-2")
    assert catalog[ITEM_ID].tolist() == [sku1, sku2, 3]
    assert catalog[EXTERNAL_ID].tolist() == ["SKU-1", "SKU-2", None]
    assert clean[ITEM_ID].tolist() == [sku1, 3, sku2]
    # written and read back (internal ids + external_id): nothing changes
    write_dataset(tmp_path, interactions, items)
    again, catalog_again = read_dataset(tmp_path)
    assert again[ITEM_ID].tolist() == clean[ITEM_ID].tolist()
    assert catalog_again[EXTERNAL_ID].tolist() == ["SKU-1", "SKU-2", None]
    # an integer-only catalog keeps the contract's columns only
    assert EXTERNAL_ID not in validate_items(items.assign(**{ITEM_ID: [1, 2, 3]}), "ints")


def test_bad_string_ids_in_a_file_are_refused_naming_the_rows():
    _, items = _shop()
    with pytest.raises(DataValidationError, match="must match") as raised:
        validate_items(items.assign(**{ITEM_ID: ["SKU-1", "bad id", "3"]}), "shop")
    assert raised.value.rows == [1]


def test_two_strings_with_one_internal_id_are_refused_at_ingest(monkeypatch):
    monkeypatch.setattr(item_ids, "hashed", lambda text: HASHED_MAX)  # every string collides
    _, items = _shop()
    with pytest.raises(DataValidationError, match="hash collision"):
        validate_items(items, "shop")
