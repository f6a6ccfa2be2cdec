"""The drift check as a Kubeflow Pipelines component and a one-step pipeline `drift-check`.

The Evidently report is an ``Output[HTML]`` (the KFP UI shows it under the run's artefacts), the
numbers an ``Output[Metrics]``. The body only calls ``monitoring.job.check``: a drift finding
starts the training pipeline exactly as the CLI and the CronJob do (on a cluster, a KFP run
through ``RECO_KFP_HOST``). No ``from __future__ import annotations`` here: KFP reads the
annotations at decoration time.
"""

import shutil
from pathlib import Path
from typing import Any

from kfp import dsl
from kfp.dsl import HTML, Metrics, Output

from components.settings import Settings, get_settings
from monitoring.config import (
    DEFAULT_COOLDOWN,
    DEFAULT_KEY_FEATURES,
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW_DAYS,
)
from pipelines.training import compile_package, mlflow_secret_env, task_setup

PIPELINE_NAME = "drift-check"


@dsl.component(base_image=get_settings().pipeline_image, install_kfp_package=False)
def drift_check_op(
    current_source: str,
    reference_dir: str,
    window_days: float,
    threshold: float,
    key_features: str,
    cooldown_hours: float,
    dry_run: bool,
    train_source: str,
    report: Output[HTML],
    metrics: Output[Metrics],
) -> str:
    """Compare the current window with the champion's reference; retrain on drift."""
    from monitoring.kfp_drift import run_check_for_kfp

    return run_check_for_kfp(
        current_source, reference_dir, window_days, threshold, key_features, cooldown_hours,
        dry_run, train_source, report, metrics,
    )  # fmt: skip


def run_check_for_kfp(
    current_source: str,
    reference_dir: str,
    window_days: float,
    threshold: float,
    key_features: str,
    cooldown_hours: float,
    dry_run: bool,
    train_source: str,
    report: Any,
    metrics: Any,
) -> str:
    """Adapter: KFP's plain parameters in, the report and numbers out as artefacts."""
    from datetime import timedelta

    from monitoring.job import check

    decision = check(
        get_settings(),
        current=current_source or None,
        reference=reference_dir or None,
        window_days=window_days if window_days > 0 else None,
        threshold=threshold,
        key_features=[k.strip() for k in key_features.split(",") if k.strip()],
        cooldown=timedelta(hours=cooldown_hours),
        dry_run=dry_run,
        # no train_source: RECO_TRAINING_SOURCE, else a MissingTrainingSource error
        retrain_arguments={"source": train_source} if train_source else None,
    )
    Path(report.path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(decision.report_html, report.path)
    metrics.log_metric("share_drifted", float(decision.share_drifted or 0.0))
    metrics.log_metric("drift", int(decision.drift))
    metrics.log_metric("retraining_started", int(decision.started))
    report.metadata.update({"status": decision.status, "reasons": decision.reasons})
    return decision.status


def build_drift_pipeline(settings: Settings) -> Any:
    # Every settings field with a value, the KFP API included: the check may start a run there.
    with_env = task_setup(settings)

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="Evidently drift check of recent events, features, scores and engagement "
        "against the champion's training window; starts the training pipeline on drift.",
    )
    def drift_check(
        current_source: str = "",
        reference_dir: str = "",
        window_days: float = DEFAULT_WINDOW_DAYS,
        threshold: float = DEFAULT_THRESHOLD,
        key_features: str = ",".join(DEFAULT_KEY_FEATURES),
        cooldown_hours: float = DEFAULT_COOLDOWN.total_seconds() / 3600,
        dry_run: bool = False,
        train_source: str = "",
    ) -> None:
        task = drift_check_op(
            current_source=current_source,
            reference_dir=reference_dir,
            window_days=window_days,
            threshold=threshold,
            key_features=key_features,
            cooldown_hours=cooldown_hours,
            dry_run=dry_run,
            train_source=train_source,
        )
        with_env(task).set_display_name("drift check (Evidently)")

    return drift_check


def compile_drift_pipeline(settings: Settings, output: Path) -> Path:
    """Write the YAML to upload next to the training pipeline (the check reads the champion's
    reference from MLflow: the MLflow credentials Secret by reference)."""
    return compile_package(build_drift_pipeline(settings), output, mlflow_secret_env(settings))
