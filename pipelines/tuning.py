"""The tuning pipeline: a small grid search over `TrainingParams` knobs, judged on validation.

ingest → split → features (Feast) → start (MLflow parent run)
       → ParallelFor(trial configurations): trial — a two-tower learns on ``fit`` (its epoch
         count stopped on ``label``), the ranker learns on its candidates and is judged on
         held-out label users; one nested MLflow run per trial
       → select (fan-in with ``dsl.Collected`` over the trials' JSON results): the best
         configuration → ``<state>/tuning/best_params.json`` and the parent run
         (``best.*`` params, ``tuning/best_params.json`` artefact)

The test split is made by ``split`` but no step here receives it (the trial reads ``fit`` and
``label`` only, through the guard that refuses the test split). ``reco pipeline run --params
best`` trains with the written configuration. The plain work is in ``run_trial`` /
``select_trials`` below and in ``pipelines.search``; the components are thin wrappers.
"""

import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kfp import compiler, dsl

from components import kfp_ops
from components.settings import Settings, get_settings
from components.training_params import default
from pipelines.search import (
    DEFAULT_GRID,
    SCORE,
    TrialResult,
    best_document,
    best_path,
    search_space,
    select_best,
    write_best,
)
from pipelines.training import step_environment

PIPELINE_NAME = "reco-tuning"
PARALLELISM = 4  # trials at once on a cluster (the local runner runs them one by one)


def trial_configs(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The ParallelFor items: every configuration with its trial number (KFP gives no index)."""
    return [{"trial": i, **config} for i, config in enumerate(search_space(grid))]


# --- the work, as plain functions ------------------------------------------------------------


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
    )
    trained = train_two_tower(
        fit, items, embedding_dim=params.embedding_dim, epochs=chosen, seed=seed, progress=False
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


# --- the KFP components: thin wrappers -------------------------------------------------------


component = dsl.component(base_image=get_settings().pipeline_image, install_kfp_package=False)


@component
def start_search_op(source: str, seed: int, trials: list) -> str:
    """Open the MLflow parent run of the search."""
    from components.settings import get_settings
    from pipelines.tuning import start_search

    return start_search(get_settings(), source, seed, len(trials))


@component
def trial_op(
    fit: dsl.Input[dsl.Dataset],
    label: dsl.Input[dsl.Dataset],
    items: dsl.Input[dsl.Dataset],
    feature_tables: dsl.Input[dsl.Dataset],
    config: dict,
    seed: int,
    parent_run_id: str,
    metrics: dsl.Output[dsl.Metrics],
) -> str:
    """One configuration judged on the validation window (``feature_tables``: orders it after
    the features step, whose store the ranker reads). Returns the result as JSON."""
    import math

    from pipelines.tuning import run_trial

    result = run_trial(
        fit.path, label.path, items.path, config, seed=seed, parent_run_id=parent_run_id
    )
    for name, value in result.metrics.items():
        if not math.isnan(value):
            metrics.log_metric(name.replace("@", "_at_"), value)
    return result.to_json()


@component
def select_op(results: list, source: str, seed: int, parent_run_id: str) -> str:
    """Pick the best trial on validation and write it out (state folder and MLflow)."""
    import json

    from pipelines.tuning import select_trials

    document = select_trials(results, source=source, seed=seed, parent_run_id=parent_run_id)
    return json.dumps(document["params"], sort_keys=True)


def build_tuning_pipeline(settings: Settings, grid: Mapping[str, Sequence[Any]] | None = None):
    """The pipeline; its ``trials`` parameter defaults to the grid's configurations (editable in
    the KFP UI). The source has no default: a search never runs on data nobody named."""
    env = step_environment(settings)
    configs = trial_configs(grid or DEFAULT_GRID)

    def with_env(task: Any) -> Any:
        for name, value in env.items():
            task.set_env_variable(name, value)
        return task.set_caching_options(False)

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="Grid search over the training knobs, each trial judged on the validation "
        "window (never the test split); the best configuration is written for the next run.",
    )
    def tuning(source: str, seed: int = default("seed"), trials: list = configs) -> None:
        ingest = with_env(kfp_ops.ingest_op(source=source)).set_display_name("ingest + validate")
        split = with_env(kfp_ops.split_op(interactions=ingest.outputs["interactions"]))
        features = with_env(
            kfp_ops.features_op(
                interactions=ingest.outputs["interactions"], items=ingest.outputs["items"]
            )
        ).set_display_name("features (Feast)")
        start = with_env(start_search_op(source=source, seed=seed, trials=trials))
        start.set_display_name("start search (MLflow parent run)")
        with dsl.ParallelFor(trials, parallelism=PARALLELISM) as config:
            trial = with_env(
                trial_op(
                    fit=split.outputs["fit"],
                    label=split.outputs["label"],
                    items=ingest.outputs["items"],
                    feature_tables=features.outputs["feature_tables"],
                    config=config,
                    seed=seed,
                    parent_run_id=start.output,
                )
            ).set_display_name("trial (validation window)")
        with_env(
            select_op(
                results=dsl.Collected(trial.outputs["Output"]),
                source=source,
                seed=seed,
                parent_run_id=start.output,
            )
        ).set_display_name("select best (writes best_params.json)")

    return tuning


def compile_tuning_pipeline(
    settings: Settings, output: Path, grid: Mapping[str, Sequence[Any]] | None = None
) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_tuning_pipeline(settings, grid), str(output))
    return output


def run_tuning_local(
    settings: Settings,
    source: str,
    grid: Mapping[str, Sequence[Any]] | None = None,
    seed: int = default("seed"),
) -> dict[str, Any]:
    """Run the search with the KFP local runner; returns the best document it wrote."""
    from components.training_params import require_source
    from pipelines.training import init_local_runner

    source = require_source(source)
    init_local_runner(settings)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-Python base image.*")
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        build_tuning_pipeline(settings, grid)(source=source, seed=seed)
    return json.loads(best_path(settings.state_dir).read_text())
