"""XGBoost learning-to-rank over retrieval candidates.

Training and serving both build the feature matrix with
`components.features.ranking.ranker_feature_frame`, so the ranker never sees a feature computed
two ways. Groups are users: `rank:ndcg` optimises the order within each user's candidate list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from components.data.columns import ITEM_ID, USER_ID
from components.data.events import relevance_grades

LABEL = "label"
DEFAULT_PARAMS: dict[str, object] = {
    "objective": "rank:ndcg",
    "eval_metric": "ndcg@10",
    "eta": 0.1,
    "max_depth": 6,
    "min_child_weight": 1.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "lambdarank_pair_method": "topk",
    "lambdarank_num_pair_per_sample": 10,
    "tree_method": "hist",
    "nthread": 2,
}


VALIDATION_FILE = "validation.json"


@dataclass
class Ranker:
    """``enabled``: whether the ranker beat retrieval order on validation; a disabled ranker is
    kept (its figures are on record) but what it serves is the retrieval order."""

    booster: xgb.Booster
    feature_names: list[str]
    enabled: bool = True
    validation: dict[str, float] = field(default_factory=dict)

    def score(self, features: pd.DataFrame) -> np.ndarray:
        """Scores rows of a feature frame; refuses a frame whose columns differ from training."""
        missing = [c for c in self.feature_names if c not in features.columns]
        if missing:
            raise ValueError(f"ranker features missing from the input: {missing}")
        matrix = xgb.DMatrix(
            features[self.feature_names].to_numpy(dtype=np.float32),
            feature_names=self.feature_names,
        )
        return self.booster.predict(matrix)


def label_candidates(
    candidates: pd.DataFrame, relevant: Mapping[int, Mapping[int, float]]
) -> pd.Series:
    """Graded labels: the relevance grade (``data.events.relevance_grades``: 0 = no positive,
    view 1, click 2, add to cart 3, purchase 4) of the candidate's weight in the user's later
    (label) window, ``relevant`` = user -> {item: weight} (``evaluate.relevance_weights``)."""
    weights = [
        relevant.get(user, {}).get(item, 0.0)
        for user, item in zip(candidates[USER_ID], candidates[ITEM_ID], strict=True)
    ]
    grades = relevance_grades(np.asarray(weights, np.float64))
    return pd.Series(grades, index=candidates.index, name=LABEL, dtype=np.float32)


def train_ranker(
    features: pd.DataFrame,
    labels: pd.Series,
    users: pd.Series,
    feature_names: Sequence[str],
    *,
    num_rounds: int = 200,
    params: dict[str, object] | None = None,
    validation_fraction: float = 0.1,
    early_stopping_rounds: int = 20,
    seed: int = 0,
) -> tuple[Ranker, dict[str, float]]:
    """Fits an XGBoost ranker grouped by user and returns it with its validation NDCG.

    Users with no positive candidate carry no ranking signal and are dropped; a held-out share
    of users drives early stopping so the number of trees adapts to the data size.
    """
    frame = features[list(feature_names)].copy()
    frame[LABEL] = labels.to_numpy()
    frame[USER_ID] = users.to_numpy()
    positives = frame.groupby(USER_ID)[LABEL].transform("max") > 0
    frame = frame[positives].sort_values(USER_ID, kind="stable")
    if frame.empty:
        raise ValueError(
            "no user has a relevant item among the ranker's candidates: the label window and "
            "the candidates do not overlap (raise candidate K or check the split)"
        )
    rng = np.random.default_rng(seed)
    user_ids = frame[USER_ID].unique()
    n_valid = int(len(user_ids) * validation_fraction)
    valid_users = (
        set(rng.choice(user_ids, size=n_valid, replace=False).tolist()) if n_valid else set()
    )
    is_valid = frame[USER_ID].isin(valid_users).to_numpy()

    def dmatrix(part: pd.DataFrame) -> xgb.DMatrix:
        matrix = xgb.DMatrix(
            part[list(feature_names)].to_numpy(dtype=np.float32),
            label=part[LABEL].to_numpy(),
            feature_names=list(feature_names),
        )
        matrix.set_group(part.groupby(USER_ID, sort=False).size().to_numpy())
        return matrix

    train_part, valid_part = frame[~is_valid], frame[is_valid]
    dtrain = dmatrix(train_part)
    evals = [(dtrain, "train")]
    if len(valid_part):
        evals.append((dmatrix(valid_part), "valid"))
    merged = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    history: dict[str, dict[str, list[float]]] = {}
    booster = xgb.train(
        merged,
        dtrain,
        num_boost_round=num_rounds,
        evals=evals,
        evals_result=history,
        early_stopping_rounds=early_stopping_rounds if len(valid_part) else None,
        verbose_eval=False,
    )
    metric = str(merged["eval_metric"])
    stats = {
        "train_users": float(train_part[USER_ID].nunique()),
        "train_rows": float(len(train_part)),
        "trees": float(booster.num_boosted_rounds()),
    }
    if "valid" in history:
        stats[f"valid_{metric}"] = float(max(history["valid"][metric]))
    return Ranker(booster, list(feature_names)), stats


def top_scored(
    ranker: Ranker, candidates: pd.DataFrame, features: pd.DataFrame, k: int
) -> pd.DataFrame:
    """Top-k candidates per user by ranker score as (user_id, item_id, score, rank), rank 1 = top;
    the same columns serving logs, so training-time scores are a drift reference."""
    scored = candidates[[USER_ID, ITEM_ID]].copy()
    scored["score"] = ranker.score(features)
    scored["order"] = np.arange(len(scored))
    scored = scored.sort_values([USER_ID, "score", "order"], ascending=[True, False, True])
    top = scored.groupby(USER_ID, sort=False).head(k).drop(columns="order")
    top["rank"] = top.groupby(USER_ID, sort=False).cumcount() + 1
    return top.reset_index(drop=True)


def item_lists(top: pd.DataFrame) -> dict[int, list[int]]:
    """User -> item ids in the frame's order (a ``top_scored`` frame: best first)."""
    return {int(u): g[ITEM_ID].astype(int).tolist() for u, g in top.groupby(USER_ID, sort=False)}


def rank_candidates(
    ranker: Ranker, candidates: pd.DataFrame, features: pd.DataFrame, k: int
) -> dict[int, list[int]]:
    """Top-k items per user by ranker score (ties keep the retrieval order)."""
    return item_lists(top_scored(ranker, candidates, features, k))


def save_ranker(ranker: Ranker, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    ranker.booster.save_model(directory / "ranker.ubj")
    (directory / "features.json").write_text(json.dumps(ranker.feature_names))
    (directory / VALIDATION_FILE).write_text(
        json.dumps({"enabled": ranker.enabled, "figures": ranker.validation}, indent=2)
    )


def load_ranker(directory: Path) -> Ranker:
    booster = xgb.Booster()
    booster.load_model(directory / "ranker.ubj")
    names = json.loads((directory / "features.json").read_text())
    gate_file = directory / VALIDATION_FILE  # absent in versions saved before the ranker gate
    verdict = json.loads(gate_file.read_text()) if gate_file.is_file() else {}
    return Ranker(
        booster, names, bool(verdict.get("enabled", True)), dict(verdict.get("figures", {}))
    )
