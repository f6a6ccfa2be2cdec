"""Drift between a reference window and a current window, measured with Evidently.

What is compared (every column computed by a plain function here, from interactions + catalog):

- per event: ``event_type``, primary ``category`` of the consumed item, ``context`` (device),
  ``hour_of_day`` and ``item_popularity`` (the item's popularity percentile *in the reference
  window*: 0 = the reference's most popular item, 1 = never consumed there), so a popularity head
  that moves to other items shows even though every window has some head;
- per user: ``user_events_7d`` and ``user_items_all``, the ranker's Feast features, computed with
  the very function that fills the Feast offline store (``build_feature_tables``) at the window end;
- engagement (from the feedback events of the window), per user: ``click_rate`` and
  ``purchase_rate`` (clicks / purchases per event, so it works when views are not logged);
- prediction: ``score`` of the recommendations serving logged (reference: the champion's scores
  recorded at training time).

These tables have different row units, so they are stacked into one frame (a column is empty
outside its table); Evidently drops empty values per column, so each column is tested on its own
rows and the whole check is one Evidently report: one HTML file, one JSON snapshot.

The share of drifted features counts the window features only (events + users); engagement and
score drift are reported beside it and can be named as key features by the policy.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from components.data.columns import (
    CATEGORIES,
    CATEGORY_SEPARATOR,
    CONTEXT,
    EVENT_TYPE,
    INTERACTION_COLUMNS,
    ITEM_ID,
    TIMESTAMP,
    USER_ID,
)
from monitoring.config import (
    ALL_COLUMNS,
    CATEGORY,
    CLICK_RATE,
    ENGAGEMENT_FEATURES,
    HOUR_OF_DAY,
    ITEM_POPULARITY,
    MIN_EVENTS,
    PURCHASE_RATE,
    SCORE,
    SCORE_FEATURES,
    USER_FEATURES,
    WINDOW_FEATURES,
)

UNKNOWN_CATEGORY = "(unknown)"
CATEGORICAL: frozenset[str] = frozenset({EVENT_TYPE, CATEGORY, CONTEXT})

FEATURE, ENGAGEMENT, PREDICTION = "feature", "engagement", "prediction"
KIND = {
    **dict.fromkeys(WINDOW_FEATURES, FEATURE),
    **dict.fromkeys(ENGAGEMENT_FEATURES, ENGAGEMENT),
    **dict.fromkeys(SCORE_FEATURES, PREDICTION),
}

# Distances rather than p-values: on the millions of rows of a real window every p-value test
# flags negligible shifts, while a distance measures how far the distribution moved.
NUM_METHOD = "wasserstein"  # Wasserstein distance normed by the reference's std
CAT_METHOD = "jensenshannon"
STATTEST_THRESHOLD = 0.1
MIN_COLUMN_VALUES = 30  # a column with fewer values in either window is skipped (and said so)

HTML_FILE = "report.html"
EVIDENTLY_JSON_FILE = "evidently.json"
RESULT_JSON_FILE = "result.json"
SUMMARY_ID = "reco-drift-summary"

_CLICK, _PURCHASE = "click", "purchase"


class DriftCheckError(Exception):
    """A drift check could not run; nothing is decided and no retraining starts."""


class InvalidWindowError(DriftCheckError):
    """A window cannot be compared: empty, missing columns, unreadable values or too few rows."""


@dataclass
class Window:
    """Interactions of one period, the catalog to read them with, and optionally the scores
    serving logged for that period (``user_id, item_id, score, rank, ...``)."""

    interactions: pd.DataFrame
    items: pd.DataFrame
    predictions: pd.DataFrame | None = None
    source: str = ""


@dataclass
class ColumnDrift:
    name: str
    kind: str  # feature | engagement | prediction
    method: str
    threshold: float
    score: float  # a distance (or a p-value, if a p-value method was chosen)
    drifted: bool  # Evidently's own verdict for the column
    reference_values: int
    current_values: int


@dataclass
class DriftResult:
    """Machine-readable outcome of one report; ``as_dict`` is what ``result.json`` holds."""

    share_drifted: float
    drifted_features: list[str]
    columns: dict[str, ColumnDrift]
    score_drift: bool | None  # None: no scores to compare
    engagement_drift: bool | None  # None: no engagement measurable
    engagement_rates: dict[str, dict[str, float]]
    skipped: dict[str, str]
    key_features: list[str]
    report_html_path: Path
    report_json_path: Path
    evidently_json_path: Path
    reference_window: dict[str, Any]
    current_window: dict[str, Any]

    @property
    def features_measured(self) -> list[str]:
        return [c.name for c in self.columns.values() if c.kind == FEATURE]

    def drifted(self, name: str) -> bool:
        column = self.columns.get(name)
        return bool(column and column.drifted)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("report_html_path", "report_json_path", "evidently_json_path"):
            data[key] = str(data[key])
        data["features_measured"] = self.features_measured
        return data


# --- windows ---------------------------------------------------------------------------------


def _utc(values: pd.Series) -> pd.Series:
    """Timestamps as datetime64[ns, UTC]; naive ones are taken to be UTC."""
    series = pd.Series(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(series.dtype):
        series = series.dt.tz_localize("UTC")
    else:  # strings (ISO 8601, as JSON logs write them): parse once per window
        series = pd.to_datetime(series, utc=True, format="ISO8601")
    return series.astype("datetime64[ns, UTC]")


def validate_window(
    interactions: pd.DataFrame | None, items: pd.DataFrame | None, name: str, min_events: int
) -> pd.DataFrame:
    """The interactions, cleaned (UTC timestamps, no null ids), or a clear InvalidWindowError."""
    if interactions is None or len(interactions) == 0:
        raise InvalidWindowError(f"the {name} window is empty: no interactions to compare")
    missing = [c for c in INTERACTION_COLUMNS if c not in interactions.columns]
    if missing:
        raise InvalidWindowError(
            f"the {name} window lacks required columns {missing} "
            f"(has {sorted(map(str, interactions.columns))})"
        )
    if items is None or ITEM_ID not in items.columns or CATEGORIES not in items.columns:
        raise InvalidWindowError(
            f"the {name} window has no usable catalog (needs columns {ITEM_ID}, {CATEGORIES})"
        )
    frame = interactions.dropna(subset=[USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP])
    try:
        frame = frame.assign(**{TIMESTAMP: _utc(frame[TIMESTAMP])})
        frame = frame.assign(
            **{USER_ID: frame[USER_ID].astype("int64"), ITEM_ID: frame[ITEM_ID].astype("int64")}
        )
    except (ValueError, TypeError) as error:
        raise InvalidWindowError(f"the {name} window has unreadable values: {error}") from error
    if len(frame) < min_events:
        raise InvalidWindowError(
            f"the {name} window has {len(frame)} usable interactions, fewer than the "
            f"{min_events} needed for a meaningful comparison"
        )
    return frame


def trim_window(
    interactions: pd.DataFrame, days: float | None, end: datetime | pd.Timestamp | None = None
) -> pd.DataFrame:
    """The last ``days`` before ``end`` (default: the latest event); None keeps everything.

    Both windows are trimmed to the same span, so counts per user or item compare."""
    if days is None or interactions.empty:
        return interactions
    stamps = _utc(interactions[TIMESTAMP])
    stop = stamps.max() if end is None else pd.Timestamp(end)
    if stop.tzinfo is None:
        stop = stop.tz_localize("UTC")
    start = stop - pd.Timedelta(days=days)
    keep = (stamps > start) & (stamps <= stop)
    return interactions.loc[keep.to_numpy()]


def _span(interactions: pd.DataFrame) -> dict[str, Any]:
    stamps = _utc(interactions[TIMESTAMP])
    return {
        "start": stamps.min().isoformat(),
        "end": stamps.max().isoformat(),
        "events": len(interactions),
        "users": int(interactions[USER_ID].nunique()),
        "items": int(interactions[ITEM_ID].nunique()),
    }


# --- features --------------------------------------------------------------------------------


def primary_categories(items: pd.DataFrame) -> pd.Series:
    """item_id -> first listed category (the synthetic catalog and MovieLens list it first)."""
    first = items[CATEGORIES].fillna("").astype(str).str.split(CATEGORY_SEPARATOR).str[0]
    first = first.where(first.str.len() > 0, UNKNOWN_CATEGORY)
    return pd.Series(first.to_numpy(), index=items[ITEM_ID].to_numpy()).groupby(level=0).first()


def popularity_percentiles(interactions: pd.DataFrame, items: pd.DataFrame) -> pd.Series:
    """item_id -> popularity percentile in these interactions (0 = most popular, 1 = unseen)."""
    catalog = pd.Index(
        pd.unique(np.concatenate([items[ITEM_ID].to_numpy(), interactions[ITEM_ID].to_numpy()]))
    )
    counts = interactions[ITEM_ID].value_counts().reindex(catalog, fill_value=0)
    ranks = counts.rank(ascending=False, method="average")
    percentile = (ranks - 0.5) / max(len(catalog), 1)
    return percentile.where(counts > 0, 1.0)


def window_features(
    interactions: pd.DataFrame, items: pd.DataFrame, popularity: pd.Series | None = None
) -> pd.DataFrame:
    """One row per event: event type, primary category, context, hour of day, item popularity.

    ``popularity`` (item_id -> percentile) should come from the reference window, so that both
    windows are read on the same scale; by default the window's own popularity is used."""
    popularity = popularity_percentiles(interactions, items) if popularity is None else popularity
    categories = primary_categories(items)
    frame = pd.DataFrame(
        {
            EVENT_TYPE: interactions[EVENT_TYPE].astype(str).to_numpy(),
            CATEGORY: interactions[ITEM_ID].map(categories).fillna(UNKNOWN_CATEGORY).to_numpy(),
            HOUR_OF_DAY: _utc(interactions[TIMESTAMP]).dt.hour.to_numpy(dtype=float),
            ITEM_POPULARITY: interactions[ITEM_ID].map(popularity).fillna(1.0).to_numpy(float),
        }
    )
    if CONTEXT in interactions.columns and interactions[CONTEXT].notna().any():
        frame[CONTEXT] = interactions[CONTEXT].astype("string").fillna("(none)").to_numpy(object)
    return frame


def user_features(interactions: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """One row per user: the ranker's Feast user features at the window end, computed by the
    function that fills the Feast offline store (same definitions, no second implementation)."""
    from components.features.build import build_feature_tables

    end = _utc(interactions[TIMESTAMP]).max().floor("s") + pd.Timedelta(seconds=1)
    users, _ = build_feature_tables(interactions, items, [end])
    return users[list(USER_FEATURES)].astype(float).reset_index(drop=True)


def engagement_features(interactions: pd.DataFrame) -> pd.DataFrame:
    """One row per user: share of their events that are clicks and purchases."""
    kind = interactions[EVENT_TYPE].astype(str)
    per_user = pd.DataFrame(
        {
            USER_ID: interactions[USER_ID].to_numpy(),
            CLICK_RATE: (kind == _CLICK).to_numpy(dtype=float),
            PURCHASE_RATE: (kind == _PURCHASE).to_numpy(dtype=float),
        }
    )
    return per_user.groupby(USER_ID)[list(ENGAGEMENT_FEATURES)].mean().reset_index(drop=True)


def engagement_rates(interactions: pd.DataFrame) -> dict[str, float]:
    """Whole-window click and purchase rates (per event), for people reading the result."""
    kind = interactions[EVENT_TYPE].astype(str)
    total = max(len(kind), 1)
    return {
        CLICK_RATE: float((kind == _CLICK).sum() / total),
        PURCHASE_RATE: float((kind == _PURCHASE).sum() / total),
    }


def prediction_scores(predictions: pd.DataFrame | None, max_rank: int | None) -> pd.DataFrame:
    """One row per logged recommendation: its score (top ``max_rank`` positions only)."""
    if predictions is None or SCORE not in predictions.columns or predictions.empty:
        return pd.DataFrame({SCORE: pd.Series(dtype=float)})
    rows = predictions
    if max_rank is not None and "rank" in rows.columns:
        rows = rows[rows["rank"] <= max_rank]
    scores = pd.to_numeric(rows[SCORE], errors="coerce").dropna()
    return pd.DataFrame({SCORE: scores.to_numpy(dtype=float)})


def _common_rank(reference: pd.DataFrame | None, current: pd.DataFrame | None) -> int | None:
    """Compare the same list positions: serving may return 10 where training recorded 100."""
    ranks = [
        int(frame["rank"].max())
        for frame in (reference, current)
        if frame is not None and "rank" in frame.columns and len(frame)
    ]
    return min(ranks) if len(ranks) == 2 else None


def comparison_frame(
    window: Window, popularity: pd.Series, max_rank: int | None = None
) -> pd.DataFrame:
    """Event, user, engagement and score rows stacked into one frame for one Evidently report."""
    parts = [
        window_features(window.interactions, window.items, popularity),
        user_features(window.interactions, window.items),
        engagement_features(window.interactions),
        prediction_scores(window.predictions, max_rank),
    ]
    frame = pd.concat(parts, ignore_index=True, sort=False)
    for column in CATEGORICAL & set(frame.columns):
        frame[column] = frame[column].astype(object)
    return frame


# --- the report ------------------------------------------------------------------------------


def check_key_features(key_features: Iterable[str]) -> list[str]:
    """Refuse unknown names early: a typo must not silently disable a key feature."""
    names = list(key_features)
    unknown = [name for name in names if name not in ALL_COLUMNS]
    if unknown:
        raise ValueError(f"unknown key feature(s) {unknown}; choose from {list(ALL_COLUMNS)}")
    return names


def _measurable(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    columns, skipped = [], {}
    for name in ALL_COLUMNS:
        ref_n = int(reference[name].notna().sum()) if name in reference else 0
        cur_n = int(current[name].notna().sum()) if name in current else 0
        if min(ref_n, cur_n) < MIN_COLUMN_VALUES:
            skipped[name] = (
                f"too few values to compare (reference {ref_n}, current {cur_n}, "
                f"need {MIN_COLUMN_VALUES})"
            )
        else:
            columns.append(name)
    return columns, skipped


def _describe(window: dict[str, Any]) -> str:
    return html.escape(
        f"{window.get('source') or '-'}: {window['start'][:19]} to {window['end'][:19]}, "
        f"{window['events']} events, {window['users']} users, {window['items']} items"
    )


def _summary_html(result: DriftResult) -> str:
    drifted = ", ".join(result.drifted_features) or "none"
    rows = "".join(
        f"<tr><td>{html.escape(c.name)}</td><td>{c.kind}</td><td>{c.score:.4f}</td>"
        f"<td>{html.escape(c.method)}</td><td>{c.threshold:g}</td>"
        f"<td>{'DRIFTED' if c.drifted else 'ok'}</td></tr>"
        for c in sorted(result.columns.values(), key=lambda c: (not c.drifted, c.name))
    )
    flag = {True: "drifted", False: "no drift", None: "not measured"}
    return (
        f'<section id="{SUMMARY_ID}" style="font-family:sans-serif;margin:16px">'
        f"<h2>Recommendation drift check</h2>"
        f"<p>Reference: {_describe(result.reference_window)}<br>"
        f"Current: {_describe(result.current_window)}</p>"
        f"<p><b>Share of drifted features: {result.share_drifted:.2f}</b> "
        f"({len(result.drifted_features)} of {len(result.features_measured)})<br>"
        f"<b>Drifted features: {html.escape(drifted)}</b><br>"
        f"Score drift: {flag[result.score_drift]}; engagement drift: "
        f"{flag[result.engagement_drift]}</p>"
        f"<table border=1 cellpadding=4><tr><th>column</th><th>kind</th><th>score</th>"
        f"<th>method</th><th>threshold</th><th>verdict</th></tr>{rows}</table></section>"
    )


def _write_html(snapshot: Any, result: DriftResult) -> None:
    """Evidently's report with our one-paragraph summary on top (what drifted, in words)."""
    page = snapshot.get_html_str(as_iframe=False)
    summary = _summary_html(result)
    marker = page.find("<body")
    if marker >= 0:
        insert_at = page.index(">", marker) + 1
        page = page[:insert_at] + summary + page[insert_at:]
    else:
        page = summary + page
    result.report_html_path.write_text(page, encoding="utf-8")


def run_drift_report(
    reference: Window,
    current: Window,
    key_features: Sequence[str] = (),
    *,
    output_dir: Path,
    window_days: float | None = None,
    current_end: datetime | pd.Timestamp | None = None,
    min_events: int = MIN_EVENTS,
    num_method: str = NUM_METHOD,
    cat_method: str = CAT_METHOD,
    stattest_threshold: float = STATTEST_THRESHOLD,
    drift_share: float = 0.5,
) -> DriftResult:
    """Compare the last ``window_days`` of both windows with Evidently; write HTML + JSON.

    Raises InvalidWindowError (before anything is written) when a window cannot be compared.
    ``drift_share`` only feeds Evidently's own dataset-drift test in the report; the retraining
    decision belongs to ``monitoring.policy``.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    keys = check_key_features(key_features)
    ref_events = validate_window(reference.interactions, reference.items, "reference", 1)
    cur_events = validate_window(current.interactions, current.items, "current", 1)
    ref_events = trim_window(ref_events, window_days)
    cur_events = trim_window(cur_events, window_days, current_end)
    ref_events = validate_window(ref_events, reference.items, "reference", min_events)
    cur_events = validate_window(cur_events, current.items, "current", min_events)

    catalog = pd.concat([reference.items, current.items], ignore_index=True)
    catalog = catalog.drop_duplicates(ITEM_ID, keep="last")
    popularity = popularity_percentiles(ref_events, reference.items)
    max_rank = _common_rank(reference.predictions, current.predictions)
    ref_frame = comparison_frame(
        Window(ref_events, catalog, reference.predictions), popularity, max_rank
    )
    cur_frame = comparison_frame(
        Window(cur_events, catalog, current.predictions), popularity, max_rank
    )
    columns, skipped = _measurable(ref_frame, cur_frame)
    features = [c for c in columns if KIND[c] == FEATURE]
    if not features:
        raise InvalidWindowError(f"no window feature could be measured: {skipped}")

    numerical = [c for c in columns if c not in CATEGORICAL]
    categorical = [c for c in columns if c in CATEGORICAL]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    metrics: list[Any] = [
        DriftedColumnsCount(
            columns=features,
            drift_share=drift_share,
            num_method=num_method,
            cat_method=cat_method,
            threshold=stattest_threshold,
        )
    ]
    metrics += [
        ValueDrift(
            column=c,
            method=cat_method if c in CATEGORICAL else num_method,
            threshold=stattest_threshold,
        )
        for c in columns
    ]
    report = Report(
        metrics,
        include_tests=True,
        metadata={"reference": reference.source or "reference", "current": current.source},
        tags=["reco-drift"],
    )
    snapshot = report.run(
        Dataset.from_pandas(cur_frame[columns], data_definition=definition),
        Dataset.from_pandas(ref_frame[columns], data_definition=definition),
    )
    evidently = snapshot.dict()
    drift_columns = _column_results(evidently, ref_frame, cur_frame)

    drifted = [c for c in features if drift_columns[c].drifted]
    engagement = [c for c in ENGAGEMENT_FEATURES if c in drift_columns]
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    result = DriftResult(
        share_drifted=len(drifted) / len(features),
        drifted_features=drifted,
        columns=drift_columns,
        score_drift=drift_columns[SCORE].drifted if SCORE in drift_columns else None,
        engagement_drift=any(drift_columns[c].drifted for c in engagement) if engagement else None,
        engagement_rates={
            "reference": engagement_rates(ref_events),
            "current": engagement_rates(cur_events),
        },
        skipped=skipped,
        key_features=keys,
        report_html_path=output_dir / HTML_FILE,
        report_json_path=output_dir / RESULT_JSON_FILE,
        evidently_json_path=output_dir / EVIDENTLY_JSON_FILE,
        reference_window={"source": reference.source, **_span(ref_events)},
        current_window={"source": current.source, **_span(cur_events)},
    )
    snapshot.save_json(str(result.evidently_json_path))
    _write_html(snapshot, result)
    result.report_json_path.write_text(json.dumps(result.as_dict(), indent=2, default=str))
    return result


def _column_results(
    evidently: dict[str, Any], reference: pd.DataFrame, current: pd.DataFrame
) -> dict[str, ColumnDrift]:
    """Per-column score and Evidently's drift verdict (its ValueDrift test: FAIL = drifted)."""
    verdicts = {}
    for test in evidently.get("tests", []):
        params = test.get("metric_config", {}).get("params", {})
        if str(params.get("type", "")).endswith("ValueDrift"):
            verdicts[params["column"]] = test.get("status") == "FAIL"
    out = {}
    for metric in evidently.get("metrics", []):
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        name = config["column"]
        out[name] = ColumnDrift(
            name=name,
            kind=KIND[name],
            method=str(config.get("method")),
            threshold=float(config.get("threshold")),
            score=float(metric["value"]),
            drifted=bool(verdicts.get(name, False)),
            reference_values=int(reference[name].notna().sum()),
            current_values=int(current[name].notna().sum()),
        )
    return out
