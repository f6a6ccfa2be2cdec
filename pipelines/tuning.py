"""The tuning pipeline: a small grid search over `TrainingParams` knobs, judged on validation.

ingest → split → features (Feast) → start (MLflow parent run)
       → ParallelFor(trial configurations): trial — a two-tower learns on ``fit`` (its epoch
         count stopped on ``label``), the ranker learns on its candidates and is judged on
         every label user out of fold; one nested MLflow run per trial
       → select (fan-in with ``dsl.Collected`` over the trials' JSON results): the best
         configuration → ``<state>/tuning/best_params.json`` and the parent run
         (``best.*`` params, ``tuning/best_params.json`` artefact)

The test split is made by ``split`` but no step here receives it (the trial reads ``fit`` and
``label`` only, through the guard that refuses the test split). ``reco pipeline run --params
best`` trains with the written configuration. The plain work is in ``pipelines.trials``
(``run_trial``, ``select_trials``; free of KFP, so a component body can import it) and
``pipelines.search``; the components here are thin wrappers.
"""

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kfp import dsl

from components import kfp_ops
from components.settings import Settings, get_settings
from components.training_params import default
from pipelines.search import DEFAULT_GRID, best_path, search_space
from pipelines.training import compile_package, id_key_secret_env, mlflow_secret_env, task_setup

PIPELINE_NAME = "reco-tuning"
PARALLELISM = 4  # trials at once on a cluster (the local runner runs them one by one)


def trial_configs(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The ParallelFor items: every configuration with its trial number (KFP gives no index)."""
    return [{"trial": i, **config} for i, config in enumerate(search_space(grid))]


# --- the KFP components: thin wrappers -------------------------------------------------------


component = dsl.component(base_image=get_settings().pipeline_image, install_kfp_package=False)


@component
def start_search_op(source: str, seed: int, trials: list, search: dsl.Output[dsl.Artifact]) -> str:
    """Open the MLflow parent run of the search. Its id also travels as the ``search`` artefact:
    the KFP local runner hands a parameter output of a task outside a ParallelFor to the tasks
    inside it wrongly (kfp 2.17), an artefact correctly."""
    from pathlib import Path

    from components.settings import get_settings
    from pipelines.trials import start_search

    parent_run_id = start_search(get_settings(), source, seed, len(trials))
    Path(search.path).parent.mkdir(parents=True, exist_ok=True)
    Path(search.path).write_text(parent_run_id)
    search.metadata["parent_run_id"] = parent_run_id
    return parent_run_id


@component
def trial_op(
    fit: dsl.Input[dsl.Dataset],
    label: dsl.Input[dsl.Dataset],
    items: dsl.Input[dsl.Dataset],
    feature_tables: dsl.Input[dsl.Dataset],
    search: dsl.Input[dsl.Artifact],
    config: dict,
    seed: int,
    metrics: dsl.Output[dsl.Metrics],
) -> str:
    """One configuration judged on the validation window (``feature_tables``: orders it after
    the features step, whose store the ranker reads). Returns the result as JSON."""
    import math
    from pathlib import Path

    from pipelines.trials import run_trial

    parent_run_id = Path(search.path).read_text().strip()
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

    from pipelines.trials import select_trials

    document = select_trials(results, source=source, seed=seed, parent_run_id=parent_run_id)
    return json.dumps(document["params"], sort_keys=True)


def build_tuning_pipeline(
    settings: Settings, grid: Mapping[str, Sequence[Any]] | None = None
) -> Any:
    """The pipeline; its ``trials`` parameter defaults to the grid's configurations (editable in
    the KFP UI). The source has no default: a search never runs on data nobody named."""
    with_env = task_setup(settings)
    configs = trial_configs(grid or DEFAULT_GRID)

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
                    search=start.outputs["search"],
                    config=config,
                    seed=seed,
                )
            ).set_display_name("trial (validation window)")
        with_env(
            select_op(
                results=dsl.Collected(trial.outputs["Output"]),
                source=source,
                seed=seed,
                parent_run_id=start.outputs["Output"],
            )
        ).set_display_name("select best (writes best_params.json)")

    return tuning


def compile_tuning_pipeline(
    settings: Settings, output: Path, grid: Mapping[str, Sequence[Any]] | None = None
) -> Path:
    # Trials read the data as training does (user ids pseudonymized with the same key, from the
    # same Secret: without it a pod would generate a key of its own) and log to MLflow.
    secrets = [*id_key_secret_env(settings), *mlflow_secret_env(settings)]
    return compile_package(build_tuning_pipeline(settings, grid), output, secrets)


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
