"""The `reco` command: every noun is mounted and documents itself."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.main import app


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ([], ["pipeline", "serve", "monitor", "quickstart", "data", "settings", "users"]),
        (["users", "erase"], ["erase", "training run"]),
        (["maintenance", "compact"], ["--retention-days"]),
        (["quickstart"], ["--source", "--epochs", "--port", "--no-serve"]),
        (["serve"], ["--host", "--port"]),
        (["pipeline", "run"], ["--source", "--candidate-k", "--stream-logs"]),
        (["monitor", "check"], ["--current", "--reference", "--dry-run"]),
    ],
)
def test_help_lists_the_options(command: list[str], expected: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for word in expected:
        assert word in result.output


def test_pipeline_run_hands_the_training_params_to_the_local_run(monkeypatch) -> None:
    from cli import pipeline
    from components.training_params import TrainingParams

    runs: list[tuple[TrainingParams, bool]] = []

    def record(params: TrainingParams, stream_logs: bool) -> None:
        runs.append((params, stream_logs))

    monkeypatch.setattr(pipeline, "run_locally", record)
    args = ["pipeline", "run", "--source", "/data/shop", "--epochs", "3", "--stream-logs"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert runs == [(TrainingParams(source="/data/shop", epochs=3), True)]  # the rest: defaults
    assert "num_shards" not in runs[0][0].arguments()  # left to the settings


def test_pipeline_options_enforce_the_declared_bounds() -> None:
    result = CliRunner().invoke(app, ["pipeline", "run", "--source", "s", "--candidate-k", "99"])
    assert result.exit_code != 0 and "candidate-k" in result.output


def test_settings_prints_the_configuration_with_secrets_masked(monkeypatch) -> None:
    import json

    from components.settings import get_settings

    monkeypatch.setenv("RECO_MILVUS_TOKEN", "root:Milvus-s3cret")
    monkeypatch.setenv("RECO_MILVUS_NUM_SHARDS", "4")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["settings"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    shown = json.loads(result.output)
    assert shown["milvus_token"] == "***" and shown["milvus_num_shards"] == 4


def test_catalog_add_writes_one_update_or_nothing_with_the_bad_rows_named(
    monkeypatch, tmp_path
) -> None:
    from components.recommend.catalog import read_catalog_updates
    from components.settings import get_settings

    monkeypatch.setenv("RECO_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    try:
        bad = tmp_path / "bad.csv"
        bad.write_text("item_id,title,categories,available\n9001,New,Books|Sci-Fi,true\n0,x,,\n")
        refused = CliRunner().invoke(app, ["catalog", "add", str(bad)])
        good = tmp_path / "good.csv"
        good.write_text(
            "item_id,title,categories,available\n9001,New,Books|Sci-Fi,true\n12,,,false\n"
        )
        accepted = CliRunner().invoke(app, ["catalog", "add", str(good)])
        folder = get_settings().catalog_updates_dir
    finally:
        get_settings.cache_clear()
    assert refused.exit_code == 1 and "row 2: item_id" in refused.output
    assert accepted.exit_code == 0, accepted.output
    _, frame = read_catalog_updates(folder)
    rows = frame.set_index("item_id")
    assert rows.loc[9001, "categories"] == "Books|Sci-Fi" and bool(rows.loc[9001, "available"])
    assert rows.loc[12, "title"] is None and not rows.loc[12, "available"]  # title kept as is


def test_pipeline_run_needs_a_named_source(monkeypatch) -> None:
    from cli import pipeline

    monkeypatch.setattr(pipeline, "run_locally", lambda *a, **k: pytest.fail("must not run"))
    result = CliRunner().invoke(app, ["pipeline", "run"], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "--source" in result.output


def test_pipeline_run_with_tuned_params_explicit_flags_win(monkeypatch, tmp_path) -> None:
    from cli import pipeline
    from components.settings import get_settings
    from components.training_params import TrainingParams
    from pipelines.search import best_path, write_best

    write_best(
        best_path(tmp_path),
        {"params": {"epochs": 7, "embedding_dim": 16}, "trial": 1, "score": 0.1},
    )
    runs: list[TrainingParams] = []
    monkeypatch.setattr(pipeline, "run_locally", lambda params, stream_logs: runs.append(params))
    monkeypatch.setenv("RECO_STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        args = ["pipeline", "run", "--source", "s", "--params", "best", "--epochs", "2"]
        result = CliRunner().invoke(app, args)
        missing = CliRunner().invoke(
            app, ["pipeline", "run", "--source", "s", "--params", str(tmp_path / "none.json")]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert runs == [TrainingParams(source="s", epochs=2, embedding_dim=16)]
    assert "overridden by flags: epochs" in result.output
    assert missing.exit_code == 2 and "reco pipeline tune" in missing.output


def test_pipeline_tune_and_schedule_document_themselves() -> None:
    tune = CliRunner().invoke(app, ["pipeline", "tune", "--help"], env={"COLUMNS": "200"})
    assert tune.exit_code == 0
    for word in ("--source", "--grid", "validation", "--params best"):
        assert word in tune.output
    bad = CliRunner().invoke(app, ["pipeline", "tune", "--source", "s", "--grid", "seed=1,2"])
    assert bad.exit_code == 2 and "cannot tune 'seed'" in bad.output
    schedule = CliRunner().invoke(app, ["pipeline", "schedule", "--help"], env={"COLUMNS": "200"})
    assert schedule.exit_code == 0 and "--cron" in schedule.output


def test_pipeline_schedule_without_a_cluster_prints_the_crontab_line(monkeypatch) -> None:
    monkeypatch.delenv("RECO_KFP_HOST", raising=False)
    result = CliRunner().invoke(
        app, ["pipeline", "schedule", "--source", "/data/shop", "--cron", "0 4 * * *"]
    )
    assert result.exit_code == 0, result.output
    assert "0 4 * * * RECO_STATE_DIR=" in result.output
    assert "reco monitor retrain --train-source /data/shop" in result.output


@pytest.mark.parametrize("command", ["run", "submit", "tune", "schedule"])
def test_a_blank_source_is_a_usage_error(command: str) -> None:
    result = CliRunner().invoke(app, ["pipeline", command, "--source", " "])
    assert result.exit_code == 2 and "no training source" in result.output


def test_catalog_add_refuses_a_string_id_colliding_with_a_stored_update(
    monkeypatch, tmp_path
) -> None:
    from components.data import item_ids
    from components.recommend.catalog import read_catalog_updates
    from components.settings import get_settings

    monkeypatch.setattr(item_ids, "hashed", lambda text: item_ids.HASHED_MAX)  # all collide
    monkeypatch.setenv("RECO_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    try:
        first, second = tmp_path / "first.csv", tmp_path / "second.csv"
        first.write_text("item_id,title\nSKU-A,Mug\n")
        second.write_text("item_id,title\nSKU-B,Cup\n12,\n")
        stored = CliRunner().invoke(app, ["catalog", "add", str(first)])
        refused = CliRunner().invoke(app, ["catalog", "add", str(second)])
        folder = get_settings().catalog_updates_dir
    finally:
        get_settings.cache_clear()
    assert stored.exit_code == 0, stored.output
    assert refused.exit_code == 1 and "'SKU-B'" in refused.output and "'SKU-A'" in refused.output
    _, frame = read_catalog_updates(folder)
    assert frame["external_id"].tolist() == ["SKU-A"]  # nothing of the refused file
