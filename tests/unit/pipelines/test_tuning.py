"""The compiled tuning pipeline: a ParallelFor of trials fanned in by one select step, no step
handed the test split, every run naming its source."""

from pathlib import Path

import yaml

from components.settings import Settings
from pipelines.search import search_space
from pipelines.tuning import PIPELINE_NAME, compile_tuning_pipeline, trial_configs

GRID = {"embedding_dim": (16, 32), "epochs": (1, 2)}


def _spec(tmp_path: Path) -> dict:
    settings = Settings(state_dir=tmp_path, mlflow_tracking_uri="http://mlflow:5000")
    return yaml.safe_load(compile_tuning_pipeline(settings, tmp_path / "t.yaml", GRID).read_text())


def test_trials_are_numbered_configurations_of_the_grid() -> None:
    configs = trial_configs(GRID)
    assert [c.pop("trial") for c in configs] == [0, 1, 2, 3]
    assert configs == search_space(GRID)


def test_the_pipeline_fans_out_trials_and_fans_in_one_select(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    assert spec["pipelineInfo"]["name"] == PIPELINE_NAME
    tasks = spec["root"]["dag"]["tasks"]
    loop = next(t for t in tasks.values() if "parameterIterator" in t)
    assert loop["parameterIterator"]["items"]["inputParameter"].endswith("trials")
    assert loop["iteratorPolicy"]["parallelismLimit"] > 1
    assert "select-op" in tasks and "trial-op" not in tasks  # the trial runs inside the loop
    params = spec["root"]["inputDefinitions"]["parameters"]
    defaults = params["trials"]["defaultValue"]  # KFP writes the numbers as floats
    assert defaults == [{k: float(v) for k, v in c.items()} for c in trial_configs(GRID)]
    assert "defaultValue" not in params["source"]  # a search names its data
    assert "http://mlflow:5000" in (tmp_path / "t.yaml").read_text()


def test_no_tuning_step_receives_the_test_split(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    readers = set()
    for component in spec["root"]["dag"]["tasks"].values():
        dags = [component] + [
            t
            for c in spec["components"].values()
            for t in c.get("dag", {}).get("tasks", {}).values()
        ]
        for task in dags:
            for argument in task.get("inputs", {}).get("artifacts", {}).values():
                output = argument.get("taskOutputArtifact", {})
                if (
                    output.get("producerTask") == "split-op"
                    and output["outputArtifactKey"] == "test"
                ):
                    readers.add(task["taskInfo"]["name"])
    assert readers == set()
    trial_inputs = spec["components"]["comp-trial-op"]["inputDefinitions"]["artifacts"]
    assert set(trial_inputs) == {"fit", "label", "items", "feature_tables", "search"}
