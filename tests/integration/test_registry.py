"""The champion gate against a real MLflow registry on SQLite."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from components.mlflow_models import RankerPyfunc
from components.ranker.model import label_candidates, save_ranker, train_ranker
from components.registry import (
    CHALLENGER,
    CHAMPION,
    alias_version,
    apply_gate,
    configure_mlflow,
    decide_promotion,
    download_model,
    log_model_dir,
    registry_client,
    registry_summary,
)

pytestmark = pytest.mark.integration
NAME = "test-ranker"


def _ranker_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(10), 5),
            "item_id": np.tile(np.arange(5), 10),
            "f": rng.normal(size=50),
        }
    )
    ranker, _ = train_ranker(
        frame[["f"]],
        label_candidates(frame, {u: {0: {"click"}} for u in range(10)}, ["click"]),
        frame["user_id"],
        ["f"],
        num_rounds=3,
    )
    save_ranker(ranker, tmp_path / "ranker")
    return tmp_path / "ranker"


def _register(model_dir: Path) -> str:
    example = pd.DataFrame({"f": [0.1, 0.2]})
    with mlflow.start_run():
        return log_model_dir(RankerPyfunc(), model_dir, NAME, example, np.zeros(2, np.float32))


def test_champion_moves_only_when_the_gate_passes(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    configure_mlflow(uri, "gate-test", (tmp_path / "artifacts").as_uri())
    client = registry_client(uri)
    model_dir = _ranker_dir(tmp_path)

    v1 = _register(model_dir)
    apply_gate(client, {NAME: v1}, decide_promotion(0.20, None))
    assert str(alias_version(client, NAME, CHAMPION).version) == v1
    assert registry_summary(client, NAME) == f"{NAME}: champion v1; promoted: no champion yet"

    v2 = _register(model_dir)
    decision = apply_gate(client, {NAME: v2}, decide_promotion(0.18, 0.20))
    assert not decision.promoted
    assert str(alias_version(client, NAME, CHAMPION).version) == v1
    assert str(alias_version(client, NAME, CHALLENGER).version) == v2
    assert client.get_model_version(NAME, v2).tags["validation_status"] == "rejected"
    assert registry_summary(client, NAME) == (
        f"{NAME}: champion v1; challenger v2 rejected: ndcg@10 0.1800 does not beat champion 0.2000"
    )

    v3 = _register(model_dir)
    apply_gate(client, {NAME: v3}, decide_promotion(0.25, 0.20))
    assert str(alias_version(client, NAME, CHAMPION).version) == v3

    served = mlflow.pyfunc.load_model(f"models:/{NAME}@{CHAMPION}")
    assert served.predict(pd.DataFrame({"f": [0.5, -0.5]})).shape == (2,)
    downloaded = download_model(uri, NAME, CHAMPION, tmp_path / "dl")
    assert (downloaded / "artifacts").is_dir()
