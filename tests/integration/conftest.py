"""One real training pipeline run (KFP local runner) on tiny synthetic data, shared by the
integration tests of the pipeline, serving and monitoring: it is the slowest thing we do. Also a
real Milvus server for the tests of what Milvus Lite ignores."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture(scope="module")
def milvus_server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Milvus standalone server (``milvus-server`` from the dev extra) on loopback, once
    per test module (stopped after it, so it does not idle through the rest of the suite);
    skipped where the command is missing."""
    from .milvus_server import milvus_server_command, running_milvus_server

    if milvus_server_command() is None:
        pytest.skip("milvus-server not installed (pip install milvus==2.3.5, in the dev extra)")
    with running_milvus_server(tmp_path_factory.mktemp("milvus-server")) as uri:
        yield uri
