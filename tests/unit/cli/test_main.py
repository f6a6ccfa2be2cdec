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
    result = CliRunner().invoke(app, ["pipeline", "run", "--epochs", "3", "--stream-logs"])
    assert result.exit_code == 0, result.output
    assert runs == [(TrainingParams(epochs=3), True)]  # the rest: declared defaults
    assert "num_shards" not in runs[0][0].arguments()  # left to the settings


def test_pipeline_options_enforce_the_declared_bounds() -> None:
    result = CliRunner().invoke(app, ["pipeline", "run", "--candidate-k", "99"])
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
