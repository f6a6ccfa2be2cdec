"""The tuning search's plain functions: the space, the pick, the file the next run reads."""

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pydantic
import pytest

from pipelines.search import (
    DEFAULT_GRID,
    TrialResult,
    best_document,
    best_path,
    parse_grid,
    read_best,
    resolve_params,
    search_space,
    select_best,
    tunable,
    write_best,
)


def test_the_space_is_every_combination_validated_by_the_training_params() -> None:
    space = search_space({"embedding_dim": [16, 32], "epochs": [1, 2, 3]})
    assert len(space) == 6
    assert space[0] == {"embedding_dim": 16, "epochs": 1}
    assert space[-1] == {"embedding_dim": 32, "epochs": 3}
    assert len({json.dumps(c, sort_keys=True) for c in space}) == 6
    assert len(search_space(DEFAULT_GRID)) == math.prod(len(v) for v in DEFAULT_GRID.values())
    with pytest.raises(pydantic.ValidationError, match="candidate_k"):
        search_space({"candidate_k": [50]})  # below the declared bound: fails before any run
    with pytest.raises(ValueError, match="cannot tune 'seed'"):
        search_space({"seed": [1, 2]})
    with pytest.raises(ValueError, match="no values"):
        search_space({"epochs": []})


def test_the_source_seed_and_shards_are_never_tuned() -> None:
    assert {"source", "seed", "num_shards"}.isdisjoint(tunable())
    assert {"epochs", "embedding_dim", "candidate_k"} <= set(tunable())


def test_a_grid_from_the_command_line() -> None:
    grid = parse_grid("embedding_dim=16,32; epochs=2")
    assert grid == {"embedding_dim": (16, 32), "epochs": (2,)}
    for bad, message in (
        ("embedding_dim", "expected name=value"),
        ("source=a,b", "cannot tune 'source'"),
        ("", "empty"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_grid(bad)


def _result(trial: int, score: float) -> TrialResult:
    return TrialResult(trial=trial, config={"epochs": trial + 1}, score=score, run_id=f"r{trial}")


def test_the_best_validation_score_wins_ties_go_to_the_earlier_trial_nan_never() -> None:
    results = [_result(2, 0.3), _result(0, 0.1), _result(1, 0.3), _result(3, math.nan)]
    assert select_best(results).trial == 1
    assert select_best(list(reversed(results))).trial == 1  # finishing order does not matter
    assert select_best([_result(0, math.nan), _result(1, 0.0)]).trial == 1
    with pytest.raises(ValueError, match="no trial has a validation score"):
        select_best([_result(0, math.nan)])


def test_a_trial_result_travels_as_json() -> None:
    result = TrialResult(trial=3, config={"epochs": 2}, score=0.25, metrics={"a": 1.0}, run_id="x")
    assert TrialResult.from_json(result.to_json()) == result


def test_the_best_is_written_atomically_and_read_back(tmp_path: Path) -> None:
    results = [_result(0, 0.1), _result(1, 0.2)]
    document = best_document(
        select_best(results),
        results,
        source="/data/shop",
        seed=7,
        parent_run_id="p",
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    path = write_best(best_path(tmp_path), document)
    assert path == tmp_path / "tuning" / "best_params.json"
    assert [p.name for p in path.parent.iterdir()] == ["best_params.json"]  # no scratch left
    read = read_best(path)
    assert read["params"] == {"epochs": 2} and read["trial_run_id"] == "r1"
    assert read["source"] == "/data/shop" and [t["trial"] for t in read["trials"]] == [0, 1]


def test_reading_a_missing_or_foreign_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="reco pipeline tune"):
        read_best(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text(json.dumps({"params": {"source": "x"}}))
    with pytest.raises(ValueError, match="not tunable"):
        read_best(tmp_path / "bad.json")


def test_explicit_flags_win_over_tuned_values_which_win_over_defaults() -> None:
    tuned = {"epochs": 9, "embedding_dim": 16}
    params = resolve_params({"source": "s", "epochs": 2, "candidate_k": None}, tuned)
    assert (params.epochs, params.embedding_dim, params.candidate_k) == (2, 16, 200)
    assert resolve_params({"source": "s"}).epochs == 5  # nothing tuned: the declared default
