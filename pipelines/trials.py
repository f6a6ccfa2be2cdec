"""A tuning trial and the pick, as plain functions (no KFP import: the tuning pipeline's
component bodies import this module inside the KFP executor, where importing ``kfp.compiler``
again fails on a circular import)."""

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from components.settings import Settings, get_settings
from pipelines.search import (
    SCORE,
    TrialResult,
    best_document,
    best_path,
    select_best,
    write_best,
)


def run_trial(
    fit_path: str | Path,
    label_path: str | Path,
    items_path: str | Path,
    config: Mapping[str, Any],
    *,
    seed: int,
    parent_run_id: str | None = None,
    settings: Settings | None = None,
    lookup: Callable | None = None,
) -> TrialResult:
    """One configuration on the validation window: the two-tower learns on ``fit`` with its
    epoch count chosen on ``label``; the ranker learns on that tower's candidates and is judged
    against retrieval order on label users it never learned from. The score is what serving
    would serve (the ranker's NDCG@10 when it passed its gate, else retrieval's)."""
    from components.ranker.candidates import fit_ranker
    from components.registry import log_trial
    from components.steps import _read as read_guarded  # refuses the test split
    from components.steps import epochs_on_validation, feature_lookup
    from components.training_params import TrainingParams
    from components.two_tower.export import TwoTowerRetrieval
    from components.two_tower.train import train_two_tower

    settings = settings or get_settings()
    trial = int(float(config["trial"]))
    knobs = {k: v for k, v in config.items() if k != "trial"}
    params = TrainingParams.parse({**knobs, "seed": seed})
    knobs = {k: getattr(params, k) for k in knobs}  # KFP hands numbers back as floats
    fit, label, items = read_guarded(fit_path), read_guarded(label_path), read_guarded(items_path)
    chosen, figures = epochs_on_validation(
        fit,
        label,
        items,
        max_epochs=params.epochs,
        embedding_dim=params.embedding_dim,
        seed=seed,
        history_decay=params.history_decay,
    )
    trained = train_two_tower(
        fit,
        items,
        embedding_dim=params.embedding_dim,
        epochs=chosen,
        history_decay=params.history_decay,
        seed=seed,
        progress=False,
    )
    metrics: dict[str, float] = {
        "epochs_chosen": float(chosen),
        "validation_recall@100_retrieval_all_label_users": max(figures),
    }
    try:
        ranker, stats = fit_ranker(
            TwoTowerRetrieval.from_trained(trained),
            fit,
            label,
            params.candidate_k,
            lookup or feature_lookup(settings),
            seed=seed,
        )
    except ValueError as error:  # no relevant candidate at all: nothing to judge
        metrics["failed"] = 1.0
        score = math.nan
        warnings.warn(f"trial {trial} has no validation score: {error}", stacklevel=1)
    else:
        metrics.update({k: float(v) for k, v in stats.items()})
        served = "validation_ndcg_ranker" if ranker.enabled else "validation_ndcg_retrieval"
        score = float(stats.get(served, math.nan))
    metrics[SCORE] = score
    run_id = None
    if parent_run_id:
        judged = {k: v for k, v in metrics.items() if not math.isnan(v)}
        run_id = log_trial(
            settings.resolved_mlflow_uri, parent_run_id, f"trial-{trial}", knobs, judged
        )
    return TrialResult(trial=trial, config=knobs, score=score, metrics=metrics, run_id=run_id)


def start_search(settings: Settings, source: str, seed: int, trials: int) -> str:
    """The parent MLflow run every trial nests under; returns its id."""
    from components.registry import start_tuning_run
    from components.steps import run_id

    return start_tuning_run(
        settings.resolved_mlflow_uri,
        settings.mlflow_experiment,
        settings.mlflow_artifact_root,
        f"tuning-{run_id()}",
        {"source": source, "seed": seed, "trials": trials, "score": SCORE},
    )


def select_trials(
    results: Sequence[str | TrialResult],
    *,
    source: str,
    seed: int,
    parent_run_id: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The fan-in: the best trial on validation, written to the state folder and, when there is
    a parent run, to MLflow. Returns the written document."""
    settings = settings or get_settings()
    parsed = [r if isinstance(r, TrialResult) else TrialResult.from_json(r) for r in results]
    best = select_best(parsed)
    document = best_document(best, parsed, source=source, seed=seed, parent_run_id=parent_run_id)
    write_best(best_path(settings.state_dir), document)
    if parent_run_id:
        from components.registry import finish_tuning_run

        finish_tuning_run(
            settings.resolved_mlflow_uri, parent_run_id, best.config, SCORE, best.score, document
        )
    return document
