"""A/B experiments: variants with weights, users assigned by consistent (rendezvous) hashing.

Rendezvous hashing: each variant scores ``weight / -ln(u)`` with ``u`` a uniform hash of
(experiment, variant, user) in (0, 1); the user gets the best score. The chance of a variant is
its share of the weights, the same user always gets the same variant, and adding or removing a
variant only moves users into or out of that variant (the others keep theirs).
"""

from __future__ import annotations

import hashlib
import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

CHAMPION_ALIAS = "champion"


class Variant(BaseModel):
    """One arm: which registered models it serves and how it re-ranks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    weight: float = Field(1.0, gt=0)
    model_alias: str = Field(CHAMPION_ALIAS, min_length=1, description="MLflow alias to serve")
    mmr_lambda: float | None = Field(None, ge=0, le=1, description="None = the deployment's")
    category_cap: int | None = Field(None, ge=1, description="None = the deployment's")


class Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("mmr-lambda", min_length=1, max_length=64)
    variants: tuple[Variant, ...] = (
        Variant(name="control", mmr_lambda=0.8),
        Variant(name="diverse", mmr_lambda=0.5),
    )

    @model_validator(mode="after")
    def _unique_names(self) -> Experiment:
        names = [v.name for v in self.variants]
        if not names:
            raise ValueError("an experiment needs at least one variant")
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique: {names}")
        return self

    @property
    def model_aliases(self) -> tuple[str, ...]:
        """Every alias some variant serves, champion first."""
        aliases = {v.model_alias for v in self.variants}
        return tuple(sorted(aliases, key=lambda a: (a != CHAMPION_ALIAS, a)))


def unit_hash(*parts: object) -> float:
    """A stable uniform number in (0, 1) from the parts (sha256, not Python's salted hash)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return (int.from_bytes(digest[:8], "big") + 0.5) / 2**64


def assign_variant(experiment: Experiment, user_id: int) -> Variant:
    """The user's variant: weighted rendezvous hashing of (experiment name, variant, user)."""
    return max(
        experiment.variants,
        key=lambda v: v.weight / -math.log(unit_hash(experiment.name, v.name, int(user_id))),
    )
