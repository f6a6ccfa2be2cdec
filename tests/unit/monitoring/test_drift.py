from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from components.data.columns import CONTEXT, EVENT_TYPE, ITEM_ID, TIMESTAMP, USER_ID
from monitoring.config import (
    CATEGORY,
    CLICK_RATE,
    HOUR_OF_DAY,
    ITEM_POPULARITY,
    PURCHASE_RATE,
    SCORE,
    WINDOW_FEATURES,
)
from monitoring.drift import (
    SUMMARY_ID,
    InvalidWindowError,
    Window,
    engagement_features,
    popularity_percentiles,
    run_drift_report,
    trim_window,
    window_features,
)

WINDOW_DAYS = 28.0


@pytest.fixture(scope="module")
def drifted_result(reference_window, drifted_window, tmp_path_factory):
    out = tmp_path_factory.mktemp("drifted")
    return run_drift_report(
        reference_window, drifted_window, [CATEGORY], output_dir=out, window_days=WINDOW_DAYS
    )


def test_window_features_one_row_per_event(reference_window: Window) -> None:
    events = reference_window.interactions.head(500)
    frame = window_features(events, reference_window.items)
    assert len(frame) == len(events)
    assert {EVENT_TYPE, CATEGORY, CONTEXT, HOUR_OF_DAY, ITEM_POPULARITY} <= set(frame.columns)
    assert frame[HOUR_OF_DAY].between(0, 23).all()
    assert frame[ITEM_POPULARITY].between(0, 1).all()
    assert frame[CATEGORY].isin(reference_window.items["categories"].str.split("|").str[0]).all()


def test_popularity_percentile_is_relative_to_the_given_window() -> None:
    items = pd.DataFrame({ITEM_ID: [1, 2, 3], "categories": ["A", "B", ""]})
    events = pd.DataFrame({ITEM_ID: [1, 1, 1, 2]})
    pct = popularity_percentiles(events, items)
    assert pct[1] < pct[2] < 1.0
    assert pct[3] == 1.0  # never consumed in the reference


def test_engagement_rates_per_user() -> None:
    events = pd.DataFrame(
        {
            USER_ID: [1, 1, 1, 1, 2, 2],
            EVENT_TYPE: ["view", "click", "view", "purchase", "view", "view"],
        }
    )
    frame = engagement_features(events)
    assert sorted(frame[CLICK_RATE]) == [0.0, 0.25]
    assert sorted(frame[PURCHASE_RATE]) == [0.0, 0.25]


def test_trim_window_keeps_the_last_days() -> None:
    stamps = pd.date_range("2026-01-01", periods=10, freq="D", tz="UTC")
    events = pd.DataFrame({TIMESTAMP: stamps})
    assert len(trim_window(events, 3)) == 3
    assert len(trim_window(events, None)) == 10


def test_drift_knob_is_detected_and_named(drifted_result) -> None:
    result = drifted_result
    assert result.drifted(ITEM_POPULARITY) and result.drifted(CATEGORY)
    assert set(result.drifted_features) <= set(WINDOW_FEATURES)
    assert result.share_drifted == pytest.approx(
        len(result.drifted_features) / len(result.features_measured)
    )
    assert result.share_drifted >= 0.25
    assert not result.drifted(HOUR_OF_DAY)  # the knob does not touch the time of day
    assert result.engagement_drift is True  # more clicks, fewer purchases
    assert result.score_drift is None and SCORE in result.skipped  # no prediction log here
    assert (
        result.engagement_rates["current"][CLICK_RATE]
        > result.engagement_rates["reference"][CLICK_RATE]
    )


def test_report_html_and_json_exist_and_name_the_drifted_features(drifted_result) -> None:
    page = Path(drifted_result.report_html_path).read_text()
    summary = page[page.index(SUMMARY_ID) :]
    summary = summary[: summary.index("</section>")]
    listed = summary.split("Drifted features: ")[1].split("<")[0].split(", ")
    assert listed == drifted_result.drifted_features and listed
    # Evidently's own report follows: its per-column drift tests fail exactly for those features.
    states = dict(
        re.findall(
            r'"title": "Value Drift for column (\w+)", "description": "[^"]*", '
            r'"state": "(\w+)"',
            page,
        )
    )
    assert {c for c, state in states.items() if state == "fail"} >= set(listed)
    assert states[HOUR_OF_DAY] == "success"
    data = json.loads(Path(drifted_result.report_json_path).read_text())
    assert data["drifted_features"] == drifted_result.drifted_features
    assert data["columns"][ITEM_POPULARITY]["drifted"] is True
    evidently = json.loads(Path(drifted_result.evidently_json_path).read_text())
    columns = {m["config"].get("column") for m in evidently["metrics"]}
    assert {ITEM_POPULARITY, CATEGORY, CLICK_RATE} <= columns


def test_window_without_drift_has_no_drifted_feature(
    reference_window, calm_window, tmp_path
) -> None:
    result = run_drift_report(
        reference_window, calm_window, output_dir=tmp_path, window_days=WINDOW_DAYS
    )
    assert result.drifted_features == []
    assert result.share_drifted == 0.0
    assert result.engagement_drift is False
    assert all(c.score < c.threshold for c in result.columns.values())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda w: w.iloc[0:0], "empty"),
        (lambda w: w.drop(columns=[EVENT_TYPE]), "lacks required columns"),
        (lambda w: w.head(40), "fewer than"),
        (lambda w: w.assign(**{TIMESTAMP: "not a time"}), "unreadable"),
    ],
    ids=["empty", "missing-column", "too-few-rows", "bad-timestamps"],
)
def test_bad_current_window_is_a_clear_error(
    reference_window, calm_window, tmp_path, mutate, message
) -> None:
    bad = Window(mutate(calm_window.interactions), calm_window.items)
    with pytest.raises(InvalidWindowError, match=message):
        run_drift_report(reference_window, bad, output_dir=tmp_path / "out", window_days=None)
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_unknown_key_feature_is_refused(reference_window, calm_window, tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown key feature"):
        run_drift_report(reference_window, calm_window, ["populariti"], output_dir=tmp_path)


def test_score_drift_compares_the_same_list_positions(
    reference_window, calm_window, tmp_path, make_predictions
) -> None:
    rng = np.random.default_rng(0)
    # Reference recorded 100 positions, serving logs 10: only ranks 1-10 are compared, and the
    # reference's low scores at ranks 11-100 must not count as drift.
    ref_scores = np.where(np.arange(6000) % 100 < 10, 0.8, 0.1) + rng.normal(0, 0.05, 6000)
    same = make_predictions(0.8 + rng.normal(0, 0.05, 600), ranks=10)
    moved = make_predictions(0.5 + rng.normal(0, 0.05, 600), ranks=10)
    reference = Window(
        reference_window.interactions,
        reference_window.items,
        make_predictions(ref_scores, ranks=100),
    )
    steady = run_drift_report(
        reference,
        Window(calm_window.interactions, calm_window.items, same),
        [SCORE],
        output_dir=tmp_path / "same",
        window_days=WINDOW_DAYS,
    )
    shifted = run_drift_report(
        reference,
        Window(calm_window.interactions, calm_window.items, moved),
        [SCORE],
        output_dir=tmp_path / "moved",
        window_days=WINDOW_DAYS,
    )
    assert steady.score_drift is False
    assert shifted.score_drift is True and shifted.columns[SCORE].current_values == 600
