"""The training pipeline's parameters, declared once.

The pipeline signature (`pipelines.training`), the `reco pipeline run/submit` options and the
register step's parsing of the parameters KFP hands back all take their names, defaults, bounds
and help from this model. ``num_shards`` has no default here: the pipeline's default is the
settings' ``milvus_num_shards`` (``RECO_MILVUS_NUM_SHARDS``, set by the Helm chart), and a value
given here overrides it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SOURCE_HELP = (
    "Data source: 'synthetic', 'synthetic:drift=0.5,seed=3', a folder with interactions/items "
    "Parquet files, or a MovieLens folder (ml-latest-small CSV or ml-1m '::' format)."
)


class TrainingParams(BaseModel):
    """One training run's parameters. Lax parsing on purpose: KFP hands a dict parameter back
    with its numbers as strings ("100.0"), and this model reads them as the numbers they were."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field("synthetic", description=SOURCE_HELP)
    epochs: int = Field(
        5, ge=1, description="Most two-tower epochs; validation chooses how many are used."
    )
    embedding_dim: int = Field(64, ge=4, description="Two-tower embedding size.")
    candidate_k: int = Field(200, ge=100, description="Retrieval candidates per user.")
    history_decay: float = Field(
        0.9,
        gt=0.0,
        le=1.0,
        description="The user tower's history bag weights its i-th most recent item by "
        "decay**i (normalised per bag); 1.0 = the plain mean. 0.9 chosen on validation "
        "(docs/quality.md).",
    )
    seed: int = Field(
        0,
        ge=0,
        description="Drives every random choice of a run (torch, numpy, XGBoost, the validation "
        "users, the data order): same data, parameters and seed give the same figures.",
    )
    num_shards: int | None = Field(
        None,
        ge=1,
        description="Milvus shards of the new collection (default: RECO_MILVUS_NUM_SHARDS; "
        "Milvus Lite ignores it).",
    )

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> TrainingParams:
        """From the parameters a pipeline run hands a step (strings allowed)."""
        return cls.model_validate(dict(values))

    def arguments(self) -> dict[str, Any]:
        """The pipeline's arguments: every field that has a value (an unset ``num_shards`` leaves
        the pipeline's default, which comes from the settings)."""
        return self.model_dump(exclude_none=True)


def default(name: str) -> Any:
    """A parameter's declared default."""
    return TrainingParams.model_fields[name].default


def minimum(name: str) -> int | None:
    """A parameter's declared lower bound (``ge``), if it has one."""
    bounds = [m.ge for m in TrainingParams.model_fields[name].metadata if hasattr(m, "ge")]
    return bounds[0] if bounds else None


def description(name: str) -> str:
    return TrainingParams.model_fields[name].description or ""


class MissingTrainingSource(ValueError):
    """A training run was asked for without naming its data."""


def require_source(source: str | None, where: str = "--source") -> str:
    """The data source a run trains on, which must be named: no run falls back to synthetic
    data (ask for it by name: ``synthetic``). Blank or missing is a clear error."""
    if source is None or not str(source).strip():
        raise MissingTrainingSource(
            f"no training source: set {where} to the event log and catalog folder (Parquet "
            "interactions/items), a MovieLens folder, or 'synthetic' to train on generated data"
        )
    return str(source).strip()
