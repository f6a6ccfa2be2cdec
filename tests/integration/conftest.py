"""One real training pipeline run (KFP local runner) on tiny synthetic data, shared by the
integration tests of the pipeline, serving and monitoring: it is the slowest thing we do."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.settings import Settings

TINY_SOURCE = "synthetic:n_users=300,n_items=200,seed=1"
TINY_ARGS = {"epochs": 2, "embedding_dim": 16, "candidate_k": 100, "num_shards": 2}


def tiny_settings(state_dir: Path) -> Settings:
    return Settings(state_dir=state_dir)


@pytest.fixture(scope="session")
def trained_state(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose state folder holds one finished pipeline run (champions, index, features)."""
    from pipelines.training import run_local

    settings = tiny_settings(tmp_path_factory.mktemp("state"))
    run_local(settings, source=TINY_SOURCE, **TINY_ARGS)
    return settings
