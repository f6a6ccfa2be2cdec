"""What the drift job compares live traffic with, cut from one training run's data.

The register step logs these frames beside the models (`reference/` of the training run); the
drift job (`monitoring.reference`) reads them back for the champion it watches.
"""

from __future__ import annotations

import pandas as pd

from components.data.columns import INTERACTIONS_FILE, ITEMS_FILE, PREDICTIONS_FILE, TIMESTAMP
from components.data.contract import to_utc

REFERENCE_DAYS = 30  # the reference window: the last days of the training data
PREDICTION_RANKS = 10  # ranks of the training-time scores kept as the score-drift reference


def reference_window(interactions: pd.DataFrame, days: int = REFERENCE_DAYS) -> pd.DataFrame:
    """The interactions of the last ``days`` days of the data (up to its latest event)."""
    stamps = to_utc(interactions[TIMESTAMP])
    return interactions[(stamps >= stamps.max() - pd.Timedelta(days=days)).to_numpy()]


def prediction_reference(top: pd.DataFrame, ranks: int = PREDICTION_RANKS) -> pd.DataFrame:
    """The first ``ranks`` ranks of the ranker's scored lists (a ``top_scored`` frame): the
    score distribution serving is compared with."""
    return top[top["rank"] <= ranks].reset_index(drop=True)


def reference_frames(
    interactions: pd.DataFrame, items: pd.DataFrame, predictions: pd.DataFrame | None
) -> dict[str, pd.DataFrame]:
    """File name -> frame of the reference folder (predictions only when there are some)."""
    frames = {INTERACTIONS_FILE: reference_window(interactions), ITEMS_FILE: items}
    if predictions is not None:
        frames[PREDICTIONS_FILE] = predictions
    return frames
