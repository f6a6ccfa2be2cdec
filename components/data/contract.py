"""Small helpers of the data contract: how a catalog cell and a timestamp column are read.

Declared once so that training, indexing and serving read a category list or a time the same
way (a copy that drifts is a training/serving skew).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import Field, StringConstraints

from components.data.columns import CATEGORY_SEPARATOR

MAX_ID = 2**63 - 1  # ids are stored as int64 in every table, index and log
# An id as clients send it: a strict integer that fits int64 (larger ones would wrap or fail
# far from the request that sent them).
PositiveId = Annotated[int, Field(strict=True, gt=0, le=MAX_ID)]
# An id as a string (user and item ids alike): a UUID, an SKU, an account number, an opaque
# token; no spaces or slashes, so it fits a URL path segment as it is.
ID_PATTERN = r"^[A-Za-z0-9._:@+-]+$"
MAX_ID_LENGTH = 128
IdText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)
]

FUTURE_TOLERANCE = timedelta(minutes=5)  # how far ahead a producer's clock may run
# The earliest event time accepted: older stamps are typos or defaults, and pandas' nanosecond
# time cannot hold most of them (year 1, 1600).
EARLIEST_TIMESTAMP = datetime(1970, 1, 1, tzinfo=UTC)

# Free-form request context: a few short keys with short scalar values, so a client cannot
# write megabytes into the event log that training reads.
MAX_CONTEXT_KEYS = 32
ContextKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ContextValue = (
    Annotated[str, StringConstraints(max_length=256)]
    | Annotated[int, Field(ge=-MAX_ID - 1, le=MAX_ID)]
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
    | None
)


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
