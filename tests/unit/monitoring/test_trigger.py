from __future__ import annotations

import pytest

from components.settings import Settings
from components.training_params import MissingTrainingSource
from monitoring.trigger import (
    KFP,
    LOCAL,
    default_runner,
    retrain_arguments,
    start_retraining,
    training_target,
)


def test_the_configured_target_picks_the_pipelines_entry_point(tmp_path) -> None:
    from pipelines import training

    local = Settings(state_dir=tmp_path)
    cluster = Settings(state_dir=tmp_path, kfp_host="http://ml-pipeline.kubeflow:8888")
    assert training_target(local) == LOCAL and default_runner(local) is training.run_local
    assert training_target(cluster) == KFP and default_runner(cluster) is training.submit


def test_start_retraining_passes_settings_and_arguments(tmp_path, runner) -> None:
    settings = Settings(state_dir=tmp_path)
    run_id = start_retraining(settings, {"source": "synthetic", "epochs": 2}, runner)
    assert run_id == "run-1"
    assert runner.calls == [(settings, {"source": "synthetic", "epochs": 2})]


def test_a_local_run_without_an_id_gets_a_label(tmp_path) -> None:
    calls = []

    def run_local_like(settings, **arguments):  # run_local returns the pipeline's outputs
        calls.append(arguments)

    settings = Settings(state_dir=tmp_path, training_source="/data/shop")
    run_id = start_retraining(settings, None, run_local_like)
    assert calls == [{"source": "/data/shop"}] and run_id.startswith("local-")


def test_the_argument_source_wins_over_the_setting(tmp_path, runner) -> None:
    settings = Settings(state_dir=tmp_path, training_source="/data/shop")
    start_retraining(settings, {"source": "synthetic"}, runner)
    assert runner.calls[0][1] == {"source": "synthetic"}


@pytest.mark.parametrize("setting", [None, "", "   "])
def test_no_source_anywhere_is_a_clear_error_and_starts_nothing(tmp_path, runner, setting) -> None:
    settings = Settings(state_dir=tmp_path, training_source=setting)
    with pytest.raises(MissingTrainingSource, match="RECO_TRAINING_SOURCE"):
        start_retraining(settings, {"epochs": 2}, runner)
    assert runner.calls == []
    assert retrain_arguments(settings, {"source": " /data/x "}) == {"source": "/data/x"}
