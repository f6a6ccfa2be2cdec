"""The chart's shard setting reaches the collection a training run creates: the ConfigMap's
RECO_MILVUS_NUM_SHARDS -> Settings -> the pipeline's default -> the index step's collection spec
(what it passes to Milvus' create call; Milvus Lite would ignore the shard count itself)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.chart


@pytest.mark.parametrize(("sets", "shards"), [((), 2), (("milvus.numShards=8",), 8)])
def test_the_charts_shard_count_is_what_a_collection_is_created_with(
    lib, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sets: tuple[str, ...], shards: int
) -> None:
    from components.settings import Settings
    from components.steps import collection_spec
    from pipelines.training import compile_pipeline

    (cm,) = lib.by_kind(lib.render(sets=sets), "ConfigMap")
    assert cm["data"]["RECO_MILVUS_NUM_SHARDS"] == str(shards)
    for name, value in cm["data"].items():
        monkeypatch.setenv(name, value)
    settings = Settings()  # as a pod with the ConfigMap in its environment reads it

    # the pipeline spec; a second document carries the Secret references (test_privacy.py)
    spec = next(yaml.safe_load_all(compile_pipeline(settings, tmp_path / "p.yaml").read_text()))
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["num_shards"]["defaultValue"] == shards
    # the index step, given the pipeline's default, or nothing (its settings decide)
    assert collection_spec(settings, dim=16, num_shards=shards).num_shards == shards
    assert collection_spec(settings, dim=16).num_shards == shards
    # a run's parameter still overrides the chart
    assert collection_spec(settings, dim=16, num_shards=3).num_shards == 3
