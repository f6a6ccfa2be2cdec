"""Validation of interactions and catalogs against the shared data contract.

Every loader ends here, so bad data stops at the door with a message that names the file, the
rows (0-based positions in the frame as it was read) and the reason, instead of failing three
steps later inside a model.

API (one shape for all):
- ``validate_interactions(df, source, now=None) -> DataFrame`` and
  ``validate_items(df, source) -> DataFrame`` return a clean, typed copy with a fresh RangeIndex.
- ``check_interactions`` / ``check_items`` do the same work and also return a
  :class:`ValidationReport` (rows in, rows out, duplicates dropped) for steps that log it.
- ``validate_dataset(interactions, items, source, now=None) -> (interactions, items)`` also
  requires every interacted item to be in the catalog.
All raise :class:`DataValidationError` (a ``ValueError``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    CATEGORY_SEPARATOR,
    CONTEXT,
    CREATED_AT,
    EVENT_ID,
    EVENT_TYPE,
    EVENT_TYPES,
    EXTERNAL_ID,
    INTERACTION_COLUMNS,
    ITEM_COLUMNS,
    ITEM_ID,
    OPTIONAL_INTERACTION_COLUMNS,
    TIMESTAMP,
    TITLE,
    USER_ID,
    VALUE,
)
from components.data.contract import FUTURE_TOLERANCE as CONTRACT_FUTURE_TOLERANCE
from components.data.item_ids import find_collisions, map_item_ids

logger = logging.getLogger(__name__)

# Clocks of event producers drift a little; an event a few minutes "ahead" is not an error.
FUTURE_TOLERANCE = pd.Timedelta(CONTRACT_FUTURE_TOLERANCE)
# Epoch seconds beyond this (year 5138) are almost surely milliseconds or nanoseconds.
_MAX_EPOCH_SECONDS = 1e11
_SHOW_ROWS = 5
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


class DataValidationError(ValueError):
    """Bad input data; the message names the source, the rows and the reason."""

    def __init__(self, source: str, reason: str, rows: Sequence[int] | None = None) -> None:
        self.source = source
        self.reason = reason
        self.rows = [int(r) for r in rows] if rows is not None else []
        where = f" {_format_rows(self.rows)}:" if self.rows else ""
        super().__init__(f"{source}:{where} {reason}")


@dataclass(frozen=True)
class ValidationReport:
    """What validation did to one frame, for logs and pipeline metrics."""

    source: str
    rows_in: int
    rows_out: int
    duplicates_dropped: int = 0


def _format_rows(rows: Sequence[int]) -> str:
    if len(rows) == 1:
        return f"row {rows[0]}"
    shown = ", ".join(str(r) for r in rows[:_SHOW_ROWS])
    more = f" (and {len(rows) - _SHOW_ROWS} more)" if len(rows) > _SHOW_ROWS else ""
    return f"rows {shown}{more}"


def _bad_rows(mask: pd.Series | np.ndarray) -> list[int]:
    return np.flatnonzero(np.asarray(mask)).tolist()


def _sample_values(series: pd.Series, mask: pd.Series | np.ndarray, n: int = 3) -> str:
    values = pd.unique(series[np.asarray(mask)])[:n]
    # numpy 2 scalars repr as "np.int64(10)"; show the plain Python value.
    return ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in values)


def _require_columns(df: pd.DataFrame, required: Sequence[str], source: str, kind: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataValidationError(
            source,
            f"{kind} missing required column(s) {missing}; found {list(map(str, df.columns))}",
        )


def _as_int64(series: pd.Series, name: str, source: str) -> pd.Series:
    """Integer ids, accepting integral floats and digit strings (CSV); anything else raises."""
    null = series.isna()
    if null.any():
        raise DataValidationError(source, f"{name} is null", _bad_rows(null))
    if ptypes.is_bool_dtype(series):
        raise DataValidationError(source, f"{name} must be integers, got booleans")
    if ptypes.is_integer_dtype(series):
        return series.astype("int64")
    numeric = (
        pd.to_numeric(series, errors="coerce") if not ptypes.is_float_dtype(series) else series
    )
    numeric = numeric.astype("float64")
    bad = ~np.isfinite(numeric) | (numeric != np.floor(numeric))
    if bad.any():
        raise DataValidationError(
            source,
            f"{name} must be integers, got {_sample_values(series, bad)}",
            _bad_rows(bad),
        )
    return numeric.astype("int64")


def _as_item_ids(series: pd.Series, source: str) -> tuple[pd.Series, pd.Series]:
    """(internal int64 ids, external strings or None): integers as they are, strings (SKUs,
    UUIDs) mapped by ``components.data.item_ids``; anything else raises."""
    null = series.isna()
    if null.any():
        raise DataValidationError(source, f"{ITEM_ID} is null", _bad_rows(null))
    if ptypes.is_bool_dtype(series):
        raise DataValidationError(source, f"{ITEM_ID} must be integers or strings, got booleans")
    internal, external, errors = map_item_ids(series)
    if errors:
        bad = np.zeros(len(series), dtype=bool)
        bad[[row for row, _ in errors]] = True
        reasons = "; ".join(reason for _, reason in errors[:_SHOW_ROWS])
        raise DataValidationError(source, f"bad {ITEM_ID}: {reasons}", _bad_rows(bad))
    return internal, external


def _as_utc(series: pd.Series, name: str, source: str) -> pd.Series:
    """UTC timestamps from datetimes (naive = UTC), epoch seconds or ISO strings."""
    null = series.isna()
    if null.any():
        raise DataValidationError(source, f"{name} is null", _bad_rows(null))
    if ptypes.is_datetime64_any_dtype(series):
        out = series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
    elif ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series):
        huge = np.abs(series.astype("float64")) > _MAX_EPOCH_SECONDS
        if huge.any():
            raise DataValidationError(
                source,
                f"{name} must be epoch seconds; {_sample_values(series, huge)} looks like "
                "milliseconds or nanoseconds",
                _bad_rows(huge),
            )
        out = pd.to_datetime(series, unit="s", utc=True)
    else:
        out = pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")
        bad = out.isna()
        if bad.any():
            raise DataValidationError(
                source,
                f"{name} is not a timestamp: {_sample_values(series, bad)}",
                _bad_rows(bad),
            )
    return out.astype("datetime64[ns, UTC]")


def _as_bool(series: pd.Series, name: str, source: str) -> pd.Series:
    if ptypes.is_bool_dtype(series) and not series.isna().any():
        return series.astype(bool)
    text = series.astype("string").str.strip().str.lower()
    true, false = text.isin(_TRUE), text.isin(_FALSE)
    bad = ~(true | false)
    if bad.any():
        raise DataValidationError(
            source,
            f"{name} must be a boolean, got {_sample_values(series, bad)}",
            _bad_rows(bad),
        )
    return pd.Series(true.to_numpy(dtype=bool), index=series.index, name=name)


def _as_str(series: pd.Series, missing: str | None) -> pd.Series:
    """Python ``str`` objects; missing values become ``missing`` (None keeps them null)."""
    values = series.astype(object).where(series.notna(), None)
    return values.map(lambda v: missing if v is None else str(v)).astype(object)


def _join_categories(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, list | tuple | np.ndarray | set):
        return CATEGORY_SEPARATOR.join(str(v) for v in value if v is not None and str(v))
    return str(value)


def check_interactions(
    df: pd.DataFrame, source: str, now: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate and type an interaction frame; drop duplicate events with a warning: exact
    ones, and retries (rows with the same non-null ``event_id``; the first is kept).

    Raises on: empty frame, missing required column, null or non-integer ids, unknown event type,
    unparseable or future timestamps (later than ``now`` + ``FUTURE_TOLERANCE``; ``now``
    defaults to the wall clock). Extra columns are dropped: the contract is the interface.
    """
    if df is None or len(df) == 0:
        raise DataValidationError(source, "interactions are empty (0 rows)")
    _require_columns(df, INTERACTION_COLUMNS, source, "interactions")
    rows_in = len(df)
    df = df.reset_index(drop=True)

    out = pd.DataFrame(
        {
            USER_ID: _as_int64(df[USER_ID], USER_ID, source),
            ITEM_ID: _as_item_ids(df[ITEM_ID], source)[0],
        }
    )
    events = df[EVENT_TYPE]
    if events.isna().any():
        raise DataValidationError(source, f"{EVENT_TYPE} is null", _bad_rows(events.isna()))
    events = _as_str(events, missing=None)
    unknown = ~events.isin(EVENT_TYPES)
    if unknown.any():
        raise DataValidationError(
            source,
            f"unknown {EVENT_TYPE} {_sample_values(events, unknown)}; "
            f"expected one of {sorted(EVENT_TYPES)}",
            _bad_rows(unknown),
        )
    out[EVENT_TYPE] = events
    out[TIMESTAMP] = _as_utc(df[TIMESTAMP], TIMESTAMP, source)

    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    future = out[TIMESTAMP] > now + FUTURE_TOLERANCE
    if future.any():
        first = out[TIMESTAMP][future].iloc[0]
        raise DataValidationError(
            source,
            f"{TIMESTAMP} in the future ({first.isoformat()} > now {now.isoformat()})",
            _bad_rows(future),
        )

    if CONTEXT in df.columns:
        out[CONTEXT] = _as_str(df[CONTEXT], missing=None)
    if VALUE in df.columns:
        value = pd.to_numeric(df[VALUE], errors="coerce")
        bad = value.isna() & df[VALUE].notna()
        if bad.any():
            raise DataValidationError(
                source,
                f"{VALUE} must be numeric, got {_sample_values(df[VALUE], bad)}",
                _bad_rows(bad),
            )
        out[VALUE] = value.astype("float64")
    if EVENT_ID in df.columns:
        out[EVENT_ID] = _as_str(df[EVENT_ID], missing=None)
    extra = [c for c in df.columns if c not in INTERACTION_COLUMNS + OPTIONAL_INTERACTION_COLUMNS]
    if extra:
        logger.info("%s: dropping columns outside the contract: %s", source, extra)

    duplicated = out.duplicated(subset=list(INTERACTION_COLUMNS), keep="first")
    n_dup = int(duplicated.sum())
    if n_dup:
        logger.warning(
            "%s: dropped %d exact duplicate event(s) (same %s)",
            source,
            n_dup,
            ", ".join(INTERACTION_COLUMNS),
        )
        out = out[~duplicated].reset_index(drop=True)
    if EVENT_ID in out.columns:
        retried = out[EVENT_ID].notna() & out.duplicated(subset=[EVENT_ID], keep="first")
        n_retried = int(retried.sum())
        if n_retried:
            logger.warning("%s: dropped %d retried event(s) (same %s)", source, n_retried, EVENT_ID)
            out = out[~retried].reset_index(drop=True)
            n_dup += n_retried
    return out, ValidationReport(source, rows_in, len(out), n_dup)


def validate_interactions(
    df: pd.DataFrame, source: str, now: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Clean, typed copy of ``df`` (see :func:`check_interactions`)."""
    return check_interactions(df, source, now)[0]


def check_items(df: pd.DataFrame, source: str) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate and type a catalog: unique ids (integers, or strings kept as ``external_id``
    with their internal id in ``item_id``), str title/categories, bool available."""
    if df is None or len(df) == 0:
        raise DataValidationError(source, "items are empty (0 rows)")
    _require_columns(df, ITEM_COLUMNS, source, "items")
    df = df.reset_index(drop=True)
    item_id, external = _as_item_ids(df[ITEM_ID], source)
    if EXTERNAL_ID in df.columns:  # a catalog validated before: its ids are internal already
        known = df[EXTERNAL_ID].astype(object).where(df[EXTERNAL_ID].notna(), None)
        external = external.where(external.notna(), known)
    collisions = find_collisions(item_id, external)
    if collisions:
        raise DataValidationError(source, "; ".join(collisions[:_SHOW_ROWS]))
    dup = item_id.duplicated(keep=False)
    if dup.any():
        raise DataValidationError(
            source,
            f"duplicate {ITEM_ID} {_sample_values(item_id, dup)}",
            _bad_rows(dup),
        )
    out = pd.DataFrame(
        {
            ITEM_ID: item_id,
            TITLE: _as_str(df[TITLE], missing=""),
            CATEGORIES: df[CATEGORIES].astype(object).map(_join_categories).astype(object),
            AVAILABLE: _as_bool(df[AVAILABLE], AVAILABLE, source),
            CREATED_AT: _as_utc(df[CREATED_AT], CREATED_AT, source),
        }
    )
    if external.notna().any():  # integer-only catalogs keep the contract's columns only
        out[EXTERNAL_ID] = external.astype(object)
    return out, ValidationReport(source, len(df), len(out), 0)


def validate_items(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Clean, typed copy of a catalog (see :func:`check_items`)."""
    return check_items(df, source)[0]


def require_known_items(interactions: pd.DataFrame, item_ids: pd.Series, source: str) -> None:
    """Raise if ``interactions`` reference items that the catalog does not have."""
    unknown = ~interactions[ITEM_ID].isin(item_ids)
    if unknown.any():
        missing = pd.unique(interactions.loc[unknown, ITEM_ID])
        shown = ", ".join(str(i) for i in missing[:_SHOW_ROWS])
        raise DataValidationError(
            source,
            f"{len(missing)} {ITEM_ID}(s) not in the item catalog, e.g. {shown}",
            _bad_rows(unknown),
        )


def validate_dataset(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    source: str,
    now: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate both frames and their link: every interacted item must be in the catalog."""
    clean_items = validate_items(items, f"{source} [items]")
    clean = validate_interactions(interactions, f"{source} [interactions]", now)
    require_known_items(clean, clean_items[ITEM_ID], f"{source} [interactions]")
    return clean, clean_items
