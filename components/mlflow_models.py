"""MLflow pyfunc flavours for our two models, so `models:/<name>@champion` is self-describing.

Each model is logged as its own saved folder (the same files our loaders read) plus a small
PythonModel that answers `predict` for anyone using MLflow's generic API. Serving downloads the
folder and uses the loaders directly, which keeps the request path free of pyfunc overhead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

ARTIFACT_KEY = "model_dir"


class TwoTowerPyfunc(PythonModel):
    """Input: user_id and history (comma-separated item ids, most recent first) → embedding."""

    def load_context(self, context: Any) -> None:
        from components.two_tower.export import load_two_tower

        self._retrieval = load_two_tower(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        histories = [
            [int(x) for x in str(h).split(",") if x.strip()] for h in model_input["history"]
        ]
        return self._retrieval.user_embeddings(model_input["user_id"].astype(int), histories)


class RankerPyfunc(PythonModel):
    """Input: the ranker feature frame (`RANKER_FEATURES` columns) → one score per row."""

    def load_context(self, context: Any) -> None:
        from components.ranker.model import load_ranker

        self._ranker = load_ranker(Path(context.artifacts[ARTIFACT_KEY]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return self._ranker.score(model_input)


def model_dir_of(downloaded: Path) -> Path:
    """Where our loader's files sit inside a downloaded `models:/` folder."""
    folders = [p for p in (downloaded / "artifacts").iterdir() if p.is_dir()]
    if len(folders) != 1:
        raise FileNotFoundError(f"expected one model folder under {downloaded / 'artifacts'}")
    return folders[0]
