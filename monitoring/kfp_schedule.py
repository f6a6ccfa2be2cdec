"""Scheduled retraining on a Kubeflow Pipelines cluster: a recurring run of a one-step pipeline.

The step calls ``monitoring.job.scheduled`` (as `reco monitor retrain` and the chart's retrain
CronJob do): it starts the training pipeline on the named source through the KFP API, unless
the drift check's cool-down or lock says no; both read the same state folder. The training
source is a required pipeline parameter, so a recurring run without one cannot be created.
No ``from __future__ import annotations`` here: KFP reads the annotations at decoration time.

Tested with a fake client (no KFP API server runs in the tests); ``client`` is the seam.
"""

import tempfile
from pathlib import Path
from typing import Any

from kfp import dsl

from components.settings import Settings, get_settings
from components.training_params import require_source
from monitoring.config import DEFAULT_COOLDOWN
from pipelines.training import compile_package, task_setup

PIPELINE_NAME = "scheduled-retraining"


@dsl.component(base_image=get_settings().pipeline_image, install_kfp_package=False)
def scheduled_retrain_op(train_source: str, cooldown_hours: float) -> str:
    """Start the training pipeline on ``train_source`` unless the shared cool-down/lock says no."""
    from datetime import timedelta

    from components.settings import get_settings
    from monitoring.job import scheduled

    decision = scheduled(
        get_settings(),
        cooldown=timedelta(hours=cooldown_hours),
        retrain_arguments={"source": train_source},
    )
    return decision.status


def build_schedule_pipeline(settings: Settings) -> Any:
    with_env = task_setup(settings)

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="Scheduled retraining on the named data source, sharing the drift check's "
        "cool-down and lock.",
    )
    def scheduled_retraining(
        train_source: str, cooldown_hours: float = DEFAULT_COOLDOWN.total_seconds() / 3600
    ) -> None:
        task = scheduled_retrain_op(train_source=train_source, cooldown_hours=cooldown_hours)
        with_env(task).set_display_name("scheduled retraining")

    return scheduled_retraining


def compile_schedule_pipeline(settings: Settings, output: Path) -> Path:
    """The step only starts a KFP run: no Secret needed."""
    return compile_package(build_schedule_pipeline(settings), output)


def kfp_cron(cron: str) -> str:
    """KFP's cron has a leading seconds field: a five-field crontab line gets "0 " in front."""
    fields = cron.split()
    if len(fields) == 5:
        return " ".join(["0", *fields])
    if len(fields) == 6:
        return " ".join(fields)
    raise ValueError(f"cron {cron!r}: expected 5 fields (crontab) or 6 (KFP, seconds first)")


def create_recurring_run(
    settings: Settings,
    *,
    source: str,
    cron: str,
    name: str,
    experiment: str | None = None,
    cooldown_hours: float = DEFAULT_COOLDOWN.total_seconds() / 3600,
    client: Any = None,
) -> str:
    """Create the recurring run on ``settings.kfp_host``; returns its id. At most one run at a
    time, no catch-up of missed ticks (a late retraining would only repeat the next one)."""
    source = require_source(source)
    cron = kfp_cron(cron)
    if client is None:
        if not settings.kfp_host:
            raise ValueError("RECO_KFP_HOST is not set: no cluster to schedule on")
        import kfp

        client = kfp.Client(host=settings.kfp_host, namespace=settings.kfp_namespace)
    with tempfile.TemporaryDirectory() as folder:
        package = compile_schedule_pipeline(settings, Path(folder) / f"{PIPELINE_NAME}.yaml")
        found = client.create_experiment(
            name=experiment or settings.mlflow_experiment, namespace=settings.kfp_namespace
        )
        run = client.create_recurring_run(
            experiment_id=found.experiment_id,
            job_name=name,
            description=f"retrain on {source} at '{cron}'",
            cron_expression=cron,
            max_concurrency=1,
            no_catchup=True,
            params={"train_source": source, "cooldown_hours": float(cooldown_hours)},
            pipeline_package_path=str(package),
            enable_caching=False,
        )
    return str(run.recurring_run_id)
