"""Small helpers of the data contract: how a catalog cell and a timestamp column are read.

Declared once so that training, indexing and serving read a category list or a time the same
way (a copy that drifts is a training/serving skew).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from components.data.columns import CATEGORY_SEPARATOR


def split_categories(value: str | Sequence[str] | float | None) -> list[str]:
    """An item's categories from the pipe-joined catalog column ("" or None = none)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    parts = value.split(CATEGORY_SEPARATOR) if isinstance(value, str) else list(value)
    return [c for c in (str(p).strip() for p in parts) if c]


def primary_category(value: str | Sequence[str] | float | None) -> str:
    """The first category of a catalog cell ("" when it has none): what caps and filters use."""
    categories = split_categories(value)
    return categories[0] if categories else ""


def to_utc(values: pd.Series | pd.DatetimeIndex) -> pd.Series:
    """Timestamps as datetime64[ns, UTC] (naive values are taken to be UTC)."""
    series = pd.Series(pd.to_datetime(values))
    if series.dt.tz is None:
        series = series.dt.tz_localize("UTC")
    return series.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def time_key(series: pd.Series) -> np.ndarray:
    """int64 UTC nanoseconds for a datetime column (other columns as they are), for sorting.

    tz-aware datetimes would otherwise become slow object arrays."""
    if pd.api.types.is_datetime64_any_dtype(series):
        if series.dt.tz is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return series.to_numpy(dtype="datetime64[ns]").view("int64")
    return series.to_numpy()
