"""The models a replica serves: every alias an experiment uses of one registered model, loaded.

``AliasModels`` is the one holder Retrieval (two-tower) and Ranking (XGBoost) both keep. Where
versions come from (``VersionSource``: the MLflow registry in serving, a fake in tests) and how
a downloaded folder becomes a model (``load``) are passed in, so loading, refresh, staleness and
retirement are plain code.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from components.recommend.experiment import CHAMPION_ALIAS
from components.registry import ModelRef

log = logging.getLogger(__name__)

NO_CHAMPION = "no champion registered"


class VersionSource(Protocol):
    """Resolves aliases to versions and downloads a version (``registry.RegisteredVersions``)."""

    def resolve(self, name: str, aliases: tuple[str, ...]) -> dict[str, ModelRef]: ...

    def download(self, ref: ModelRef, destination: Path) -> Path: ...


@dataclass
class Loaded:
    """An object loaded from a model version, with when it was loaded."""

    ref: ModelRef
    model: Any
    loaded_at: float = field(default_factory=time.time)
    folder: Path | None = None  # where it was downloaded (removed when retired)


@dataclass(frozen=True)
class ModelLoader:
    """How model ``name`` is loaded: which aliases, from where, by which function, into which
    scratch folder."""

    name: str
    aliases: tuple[str, ...]
    source: VersionSource
    load: Callable[[Path], Any]
    scratch: Path


@dataclass(frozen=True)
class AliasModels:
    """Alias -> loaded version of one registered model, and what went wrong loading it."""

    loader: ModelLoader
    models: dict[str, Loaded] = field(default_factory=dict)
    problem: str | None = None  # None = every alias the registry has is loaded

    @classmethod
    def load(cls, loader: ModelLoader, previous: AliasModels | None = None) -> AliasModels:
        """Every alias the registry has now; a version ``previous`` holds is reused, not
        downloaded again. On failure the previous models stay and the error is the problem."""
        before = dict(previous.models) if previous is not None else {}
        problem = None
        try:
            models = _load_versions(
                loader, loader.source.resolve(loader.name, loader.aliases), before
            )
        except Exception as error:  # noqa: BLE001 - a registry that is down is a problem, not a crash
            log.warning("%s unavailable: %s", loader.name, error)
            models, problem = before, str(error)
        if not models and problem is None:
            problem = NO_CHAMPION
        return cls(loader, models, problem)

    def refresh(self) -> AliasModels:
        return AliasModels.load(self.loader, self)

    def is_stale(self) -> bool:
        """An alias moved (or appeared, or went), or what failed to load may load now."""
        refs = self.loader.source.resolve(self.loader.name, self.loader.aliases)
        return self.problem is not None or self.versions() != {
            alias: ref.version for alias, ref in refs.items()
        }

    def retire(self, newer: AliasModels) -> None:
        """Remove the downloads of the versions ``newer`` no longer uses."""
        in_use = {id(loaded.model) for loaded in newer.models.values()}
        for loaded in self.models.values():
            if id(loaded.model) not in in_use and loaded.folder is not None:
                shutil.rmtree(loaded.folder, ignore_errors=True)
                log.info("retired %s version %s", loaded.ref.name, loaded.ref.version)

    def pick(self, alias: str) -> Loaded | None:
        """The variant's model, or the champion when the variant's alias does not exist."""
        return self.models.get(alias) or self.models.get(CHAMPION_ALIAS)

    @property
    def champion(self) -> Loaded | None:
        return self.models.get(CHAMPION_ALIAS)

    def versions(self) -> dict[str, str]:
        return {alias: loaded.ref.version for alias, loaded in self.models.items()}

    def describe(self) -> dict[str, dict[str, Any]]:
        return {
            alias: {
                "name": loaded.ref.name,
                "version": loaded.ref.version,
                "loaded_at": loaded.loaded_at,
            }
            for alias, loaded in self.models.items()
        }


def _load_versions(
    loader: ModelLoader, refs: dict[str, ModelRef], previous: dict[str, Loaded]
) -> dict[str, Loaded]:
    by_key = {loaded.ref.key: loaded for loaded in previous.values()}
    out = {}
    for alias, ref in refs.items():
        if ref.key in by_key:
            old = by_key[ref.key]
            out[alias] = Loaded(ref, old.model, old.loaded_at, old.folder)
            continue
        target = loader.scratch / "models" / f"{ref.name}-{ref.version}-{uuid.uuid4().hex[:6]}"
        out[alias] = Loaded(ref, loader.load(loader.source.download(ref, target)), folder=target)
        by_key[ref.key] = out[alias]  # two aliases on one version: one download
        log.info("loaded %s version %s (%s)", ref.name, ref.version, alias)
    return out
