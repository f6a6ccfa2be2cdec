"""Start a retraining through `pipelines`: the KFP local runner, or a KFP run on a cluster.

The same code decides in both places; only the configured target differs: ``settings.kfp_host``
set means a run on that Kubeflow Pipelines API (``pipelines.training.submit``), unset means the
local runner in this process (``pipelines.training.run_local``, which blocks until it is done).
Monitoring never calls training code directly (docs/architecture.md, dependency directions).

Every retraining names its data: ``source`` in the arguments, else ``RECO_TRAINING_SOURCE``
(``settings.training_source``, which the chart requires); neither is a MissingTrainingSource
error before anything starts, never a silent fall-back to the pipeline's synthetic data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from components.settings import Settings
from components.training_params import require_source

log = logging.getLogger(__name__)

KFP, LOCAL = "kfp", "local"

# A runner is called as runner(settings, **arguments): exactly the shape of run_local / submit.
Runner = Callable[..., Any]


def training_target(settings: Settings) -> str:
    return KFP if settings.kfp_host else LOCAL


def default_runner(settings: Settings) -> Runner:
    """The pipelines entry point for the configured target (imported only when needed)."""
    from pipelines import training

    return training.submit if training_target(settings) == KFP else training.run_local


def retrain_arguments(
    settings: Settings, arguments: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The pipeline arguments of a retraining, with its source resolved and checked."""
    given = dict(arguments or {})
    given["source"] = require_source(
        given.get("source") or settings.training_source, "--train-source or RECO_TRAINING_SOURCE"
    )
    return given


def start_retraining(
    settings: Settings, arguments: Mapping[str, Any] | None = None, runner: Runner | None = None
) -> str:
    """Start the training pipeline; returns the KFP run id, or a local run label.

    ``runner`` replaces the pipelines entry point (tests pass one that records the call)."""
    target = training_target(settings)
    arguments = retrain_arguments(settings, arguments)
    runner = runner or default_runner(settings)
    log.info("starting retraining (%s) with %s", target, arguments)
    started = datetime.now(UTC)
    result = runner(settings, **arguments)
    if isinstance(result, str) and result:
        return result
    return f"{target}-{started.strftime('%Y%m%dT%H%M%SZ')}"
