import pandas as pd

from components.data.columns import INTERACTIONS_FILE, ITEMS_FILE, PREDICTIONS_FILE, TIMESTAMP
from components.drift_reference import prediction_reference, reference_frames, reference_window


def test_the_reference_window_is_the_last_days_of_the_data() -> None:
    stamps = pd.date_range("2026-01-01", periods=10, freq="D", tz="UTC")
    interactions = pd.DataFrame({TIMESTAMP: stamps, "n": range(10)})
    window = reference_window(interactions, days=3)
    assert window["n"].tolist() == [6, 7, 8, 9]  # the latest day and the three before it


def test_prediction_reference_keeps_the_top_ranks() -> None:
    top = pd.DataFrame({"user_id": [1, 1, 1, 2], "rank": [1, 2, 11, 1]})
    assert prediction_reference(top, ranks=10)["rank"].tolist() == [1, 2, 1]


def test_reference_frames_name_their_files() -> None:
    interactions = pd.DataFrame({TIMESTAMP: pd.date_range("2026-01-01", periods=2, tz="UTC")})
    items = pd.DataFrame({"item_id": [1]})
    assert set(reference_frames(interactions, items, None)) == {INTERACTIONS_FILE, ITEMS_FILE}
    with_scores = reference_frames(interactions, items, pd.DataFrame({"rank": [1]}))
    assert PREDICTIONS_FILE in with_scores
