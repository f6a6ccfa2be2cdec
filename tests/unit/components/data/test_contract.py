"""The data contract's readers: category cells and timestamps, one way everywhere."""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.data.contract import primary_category, split_categories, time_key, to_utc


def test_split_categories_reads_pipe_joined_column():
    assert split_categories("Action|Comedy") == ["Action", "Comedy"]
    assert split_categories(" Drama | |") == ["Drama"]
    assert split_categories("") == []
    assert split_categories(None) == []
    assert split_categories(float("nan")) == []
    assert split_categories(["A", "B"]) == ["A", "B"]


def test_primary_category_is_the_first_or_empty():
    assert primary_category("Action|Comedy") == "Action"
    assert primary_category(" |Drama") == "Drama"
    assert primary_category(None) == ""


def test_to_utc_localizes_naive_and_converts_aware():
    naive = pd.Series(pd.to_datetime(["2024-01-01 12:00"]))
    aware = pd.Series(pd.to_datetime(["2024-01-01 13:00"]).tz_localize("Europe/Paris"))
    assert to_utc(naive).iloc[0] == to_utc(aware).iloc[0]
    assert str(to_utc(aware).dtype) == "datetime64[ns, UTC]"


def test_time_key_orders_aware_times_as_nanoseconds():
    aware = pd.Series(pd.to_datetime(["2024-01-02", "2024-01-01"]).tz_localize("UTC"))
    keys = time_key(aware)
    assert keys.dtype == np.int64 and keys[0] > keys[1]
    assert list(time_key(pd.Series([3, 1]))) == [3, 1]
