"""The tuning search as plain functions: the space, the pick, the file the next run reads.

No KFP and no MLflow here (``pipelines.tuning`` wires these into a pipeline): the grid is a
cartesian product over `TrainingParams` fields, each configuration validated by that model; a
trial is judged on the validation window only (its ``score``); the best configuration is
written as JSON under the state folder, where ``reco pipeline run --params best`` finds it.
Explicit command-line values always win over the tuned ones.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from components.training_params import TrainingParams

BEST_FILE = "best_params.json"
# Knobs a search may vary; the source (data) and the seed (reproducibility) are run inputs,
# the shard count is infrastructure: none of them is tuned.
NOT_TUNABLE = frozenset({"source", "seed", "num_shards"})
# A small default search: two sizes of tower, two epoch budgets (validation still stops early),
# two candidate depths for the ranker. 8 trials.
DEFAULT_GRID: dict[str, tuple[Any, ...]] = {
    "embedding_dim": (32, 64),
    "epochs": (3, 6),
    "candidate_k": (100, 200),
}
SCORE = "validation_ndcg@10"  # what serving would serve, on label users out of fold


def tunable() -> list[str]:
    return [name for name in TrainingParams.model_fields if name not in NOT_TUNABLE]


def parse_grid(text: str) -> dict[str, tuple[Any, ...]]:
    """``"embedding_dim=16,32;epochs=2"`` -> ``{"embedding_dim": (16, 32), "epochs": (2,)}``.
    Values are parsed as JSON numbers where they are numbers; names must be tunable fields."""
    grid: dict[str, tuple[Any, ...]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, values = part.partition("=")
        name = name.strip()
        if not sep or not values.strip():
            raise ValueError(f"grid entry {part!r}: expected name=value[,value...]")
        if name not in tunable():
            raise ValueError(f"cannot tune {name!r}: tunable parameters are {', '.join(tunable())}")
        grid[name] = tuple(_number(v.strip()) for v in values.split(",") if v.strip())
    if not grid:
        raise ValueError("the grid is empty")
    return grid


def _number(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value


def search_space(
    grid: Mapping[str, Sequence[Any]], base: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every combination of the grid (in a stable order), each a full set of pipeline
    parameters: ``base`` (source, seed, ...) overlaid with the trial's values and validated by
    `TrainingParams`, so a bad value fails here, before anything runs."""
    for name, values in grid.items():
        if name not in tunable():
            raise ValueError(f"cannot tune {name!r}: tunable parameters are {', '.join(tunable())}")
        if not values:
            raise ValueError(f"no values to try for {name!r}")
    names = list(grid)
    configs = []
    for values in itertools.product(*(grid[n] for n in names)):
        params = TrainingParams(**{**dict(base or {}), **dict(zip(names, values, strict=True))})
        configs.append({name: getattr(params, name) for name in names})
    return configs


@dataclass(frozen=True)
class TrialResult:
    """One trial: its configuration, its figures on the validation window, its MLflow run."""

    trial: int
    config: dict[str, Any]
    score: float
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrialResult:
        data = json.loads(text)
        return cls(
            trial=int(data["trial"]),
            config=dict(data["config"]),
            score=float(data["score"]),
            metrics={k: float(v) for k, v in data.get("metrics", {}).items()},
            run_id=data.get("run_id"),
        )


def select_best(results: Sequence[TrialResult]) -> TrialResult:
    """The trial with the highest validation score; a tie goes to the earlier trial (so the
    pick does not depend on the order trials finished in). A NaN score never wins."""
    judged = [r for r in results if not math.isnan(r.score)]
    if not judged:
        raise ValueError(f"no trial has a validation score ({len(results)} trials)")
    return min(judged, key=lambda r: (-r.score, r.trial))


def best_document(
    best: TrialResult,
    results: Sequence[TrialResult],
    *,
    source: str,
    seed: int,
    parent_run_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """What is written out: the best configuration and how it was chosen."""
    return {
        "params": dict(best.config),
        "score": best.score,
        "score_name": SCORE,
        "trial": best.trial,
        "trial_run_id": best.run_id,
        "parent_run_id": parent_run_id,
        "source": source,
        "seed": seed,
        "trials": [asdict(r) for r in sorted(results, key=lambda r: r.trial)],
        "written_at": (now or datetime.now(UTC)).isoformat(),
    }


def best_path(state_dir: Path) -> Path:
    return Path(state_dir) / "tuning" / BEST_FILE


def write_best(path: Path, document: Mapping[str, Any]) -> Path:
    """Atomically (temporary file, then rename): a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    scratch.write_text(json.dumps(dict(document), indent=2, default=str))
    os.replace(scratch, path)
    return path


def read_best(path: Path) -> dict[str, Any]:
    """The tuned parameters a file holds; a clear error when there is none to use."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no tuned parameters at {path}: run `reco pipeline tune --source ...` first"
        )
    document = json.loads(path.read_text())
    params = document.get("params")
    if not isinstance(params, dict):
        raise ValueError(f"{path} holds no 'params' object")
    unknown = set(params) - set(tunable())
    if unknown:
        raise ValueError(f"{path}: not tunable parameters {sorted(unknown)}")
    return document


def resolve_params(
    explicit: Mapping[str, Any], tuned: Mapping[str, Any] | None = None
) -> TrainingParams:
    """The next run's parameters: explicit values (command-line flags given) win, then the
    tuned ones, then `TrainingParams`' defaults. ``None`` in ``explicit`` means not given."""
    given = {k: v for k, v in explicit.items() if v is not None}
    return TrainingParams(**{**dict(tuned or {}), **given})
