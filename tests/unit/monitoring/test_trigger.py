from __future__ import annotations

from components.settings import Settings
from monitoring.trigger import KFP, LOCAL, default_runner, start_retraining, training_target


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

    run_id = start_retraining(Settings(state_dir=tmp_path), None, run_local_like)
    assert calls == [{}] and run_id.startswith("local-")
