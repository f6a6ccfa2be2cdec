"""XGBoost per-action heads over retrieval candidates, combined by the event table's weights.

One binary XGBoost model per action (``ranker.actions``: click, purchase, a rating band, a skip,
...) predicts the probability that the user takes it on the candidate; ``Ranker.score`` is the
one explicit combination, ``Σ weight_i × P(action_i)``, with the weights of the event table read
when the ranker is loaded (so the business changes what is optimised without a retrain). The
heads are saved together, one registered model.

Training and serving both build the feature matrix with
`components.features.ranking.ranker_feature_frame`, so the ranker never sees a feature computed
two ways.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from components.data.columns import ITEM_ID, USER_ID
from components.data.events import EventTable
from components.ranker.actions import (
    PairActions,
    action_labels,
    action_weights,
    combine,
    dominant_actions,
)

log = logging.getLogger(__name__)

DEFAULT_PARAMS: dict[str, object] = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "eta": 0.1,
    "max_depth": 6,
    "min_child_weight": 1.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "tree_method": "hist",
    # One thread: the heads train on ~0.1M rows, where two OpenMP threads save ~2 s on an idle
    # 2-core machine but make each training ~25x slower when any other process holds a core
    # (every tree waits at barriers for a descheduled thread; docs/quality.md). The figures
    # measured the same with one thread and two on ml-latest-small.
    "nthread": 1,
}
# A version saved before per-action heads: one rank:ndcg booster, served with weight 1.
LEGACY_HEAD = "relevance"

VALIDATION_FILE = "validation.json"
HEADS_FILE = "heads.json"


def served_weights(actions: Sequence[str], table: EventTable | None = None) -> dict[str, float]:
    """Each head's weight under ``table`` (default: the settings' table). A head whose action
    the table no longer produces (its thresholds changed) weighs 0, with a warning."""
    weights = {**action_weights(table), LEGACY_HEAD: 1.0}
    unknown = [a for a in actions if a not in weights]
    if unknown:
        log.warning("ranker heads %s are not actions of the event table: weight 0", unknown)
    return {a: weights.get(a, 0.0) for a in actions}


@dataclass
class Ranker:
    """``heads``: action -> booster predicting P(action); ``weights``: action -> its weight in
    the served score. ``enabled``: whether the combined score beat retrieval order on
    validation; a disabled ranker is kept (its figures are on record) but what it serves is the
    retrieval order."""

    heads: dict[str, xgb.Booster]
    feature_names: list[str]
    weights: dict[str, float] = field(default_factory=dict)
    enabled: bool = True
    validation: dict[str, float] = field(default_factory=dict)

    @property
    def actions(self) -> list[str]:
        return list(self.heads)

    def with_table(self, table: EventTable | None) -> Ranker:
        """The same heads under another event table's weights (no retraining)."""
        return replace(self, weights=served_weights(self.actions, table))

    def probabilities(self, features: pd.DataFrame) -> np.ndarray:
        """P(action) per row (rows) and head (columns, in ``actions`` order); refuses a frame
        whose columns differ from training."""
        missing = [c for c in self.feature_names if c not in features.columns]
        if missing:
            raise ValueError(f"ranker features missing from the input: {missing}")
        matrix = xgb.DMatrix(
            features[self.feature_names].to_numpy(dtype=np.float32),
            feature_names=self.feature_names,
        )
        columns = [booster.predict(matrix) for booster in self.heads.values()]
        return np.stack(columns, axis=1) if columns else np.zeros((len(features), 0))

    def _weight_vector(self) -> np.ndarray:
        return np.asarray([self.weights.get(a, 0.0) for a in self.heads], np.float64)

    def score(self, features: pd.DataFrame) -> np.ndarray:
        """The served score: ``Σ weight_i × P(action_i)`` (``actions.combine``)."""
        return combine(self.probabilities(features), self._weight_vector())

    def explain(self, features: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """Scores and, per row, the action that adds most to its score."""
        probabilities, weights = self.probabilities(features), self._weight_vector()
        return combine(probabilities, weights), dominant_actions(
            probabilities, weights, self.actions
        )


def label_candidates(
    candidates: pd.DataFrame, taken: PairActions, actions: Sequence[str]
) -> pd.DataFrame:
    """One 0/1 label column per action: whether the user took it on the candidate in the
    later (label) window; ``taken`` = user -> item -> actions (``actions.pair_actions``)."""
    labels = action_labels(candidates[USER_ID], candidates[ITEM_ID], taken, actions)
    labels.index = candidates.index
    return labels


def train_ranker(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    users: pd.Series,
    feature_names: Sequence[str],
    *,
    weights: Mapping[str, float] | None = None,
    num_rounds: int = 200,
    params: dict[str, object] | None = None,
    validation_fraction: float = 0.1,
    early_stopping_rounds: int = 20,
    seed: int = 0,
    negative_share: float = 1.0,
) -> tuple[Ranker, dict[str, float]]:
    """One binary XGBoost head per label column that has a positive (an action taken on a
    candidate) and a negative; ``weights`` (default: the settings' event table) combine them.

    Every candidate may be a training row (the heads predict calibrated probabilities, so users
    who took no action count as negatives); a held-out share of users drives early stopping so
    the number of trees adapts to the data size.

    ``negative_share`` < 1 trains on a seeded share of the rows with no action at all (every
    row with an action is kept) and weighs each kept one ``1 / negative_share``: the weighted
    log loss is an unbiased estimate of the full one, so the heads stay calibrated and the
    served ``Σ weight × P(action)`` keeps its meaning. The early-stopping users keep all their
    rows, unweighted, so ``head_<a>_valid_logloss`` is comparable across shares.
    """
    if not 0 < negative_share <= 1:
        raise ValueError(f"negative_share must be in (0, 1], got {negative_share}")
    frame = features[list(feature_names)].reset_index(drop=True)
    labels = labels.reset_index(drop=True)
    user_ids = users.to_numpy()
    rng = np.random.default_rng(seed)
    distinct = pd.unique(user_ids)  # in the rows' order (``data.order``), not by keyed id
    n_valid = int(len(distinct) * validation_fraction)
    valid_users = rng.choice(distinct, size=n_valid, replace=False) if n_valid else []
    is_valid = np.isin(user_ids, valid_users)
    taken = labels[~is_valid].sum()
    actions = [a for a in labels.columns if 0 < taken[a] < (~is_valid).sum()]
    if not actions:
        raise ValueError(
            "no action is taken on any of the ranker's candidates: the label window and "
            "the candidates do not overlap (raise candidate K or check the split)"
        )
    # the training rows: all with an action, a seeded share of the rest (drawn over the rows
    # in their content order, so the draw does not depend on the id key)
    any_action = labels.to_numpy().max(axis=1) > 0
    kept = any_action | (np.random.default_rng([seed, 1]).random(len(labels)) < negative_share)
    is_train = ~is_valid & kept
    row_weight = np.where(any_action, 1.0, 1.0 / negative_share)[is_train].astype(np.float32)
    x = frame.to_numpy(dtype=np.float32)
    names = list(feature_names)
    merged = {**DEFAULT_PARAMS, **(params or {}), "seed": seed}
    metric = str(merged["eval_metric"])
    heads: dict[str, xgb.Booster] = {}
    stats: dict[str, float] = {
        "train_users": float(len(np.unique(user_ids[~is_valid]))),
        "train_rows": float(is_train.sum()),
        "heads": float(len(actions)),
    }
    # one matrix per row set, its label swapped per head: the quantile sketch is made once
    dtrain = xgb.DMatrix(
        x[is_train],
        weight=row_weight if negative_share < 1 else None,
        feature_names=names,
    )
    dvalid = xgb.DMatrix(x[is_valid], feature_names=names) if is_valid.any() else None
    for action in actions:
        y = labels[action].to_numpy(np.float32)
        dtrain.set_label(y[is_train])
        evals = [(dtrain, "train")]
        if dvalid is not None:
            dvalid.set_label(y[is_valid])
            evals.append((dvalid, "valid"))
        history: dict[str, dict[str, list[float]]] = {}
        heads[action] = xgb.train(
            merged,
            dtrain,
            num_boost_round=num_rounds,
            evals=evals if dvalid is not None else [],
            evals_result=history,
            early_stopping_rounds=early_stopping_rounds if dvalid is not None else None,
            verbose_eval=False,
        )
        stats[f"head_{action}_positives"] = float(taken[action])
        stats[f"head_{action}_trees"] = float(heads[action].num_boosted_rounds())
        if "valid" in history:
            stats[f"head_{action}_valid_{metric}"] = float(min(history["valid"][metric]))
    stats["trees"] = float(sum(stats[f"head_{a}_trees"] for a in actions))
    served = dict(weights) if weights is not None else served_weights(actions)
    return Ranker(heads, names, {a: float(served.get(a, 0.0)) for a in actions}), stats


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
    """The heads together (one file each, ``heads.json`` names their actions and the weights
    they were judged with), the feature names and the validation verdict."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for i, (action, booster) in enumerate(ranker.heads.items()):
        files[action] = f"head_{i}.ubj"
        booster.save_model(directory / files[action])
    (directory / HEADS_FILE).write_text(
        json.dumps({"files": files, "trained_weights": ranker.weights}, indent=2)
    )
    (directory / "features.json").write_text(json.dumps(ranker.feature_names))
    (directory / VALIDATION_FILE).write_text(
        json.dumps({"enabled": ranker.enabled, "figures": ranker.validation}, indent=2)
    )


def _booster(path: Path) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(path)
    return booster


def load_ranker(directory: Path, table: EventTable | None = None) -> Ranker:
    """The saved heads, weighted by ``table`` (default: the settings' event table, read now:
    the served weights are the loading process's, not the training run's)."""
    heads_file = directory / HEADS_FILE
    if heads_file.is_file():
        files = json.loads(heads_file.read_text())["files"]
        heads = {action: _booster(directory / name) for action, name in files.items()}
    else:  # a version saved before per-action heads
        heads = {LEGACY_HEAD: _booster(directory / "ranker.ubj")}
    names = json.loads((directory / "features.json").read_text())
    gate_file = directory / VALIDATION_FILE  # absent in versions saved before the ranker gate
    verdict = json.loads(gate_file.read_text()) if gate_file.is_file() else {}
    return Ranker(
        heads,
        names,
        served_weights(list(heads), table),
        bool(verdict.get("enabled", True)),
        dict(verdict.get("figures", {})),
    )
