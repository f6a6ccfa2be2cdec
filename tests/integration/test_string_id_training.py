"""Training end to end on a shop named by strings (SKUs for items, strings for users): the real
pipeline steps in order (the KFP wrappers only map artefacts to these paths), from a dataset
folder's raw files to registered champions, serving tables and an index."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from components.data.columns import EXTERNAL_ID, INTERACTIONS_FILE, ITEM_ID, ITEMS_FILE, USER_ID
from components.data.item_ids import internal_item_id, is_hashed
from components.data.synthetic import generate_synthetic
from components.recommend.catalog import Catalog
from components.recommend.tables import TABLES_ARTIFACT, load_serving_tables
from components.registry import CHAMPION, alias_version, registry_client
from components.settings import Settings
from components.steps import (
    GateInputs,
    build_features,
    evaluate,
    index_items,
    ingest,
    register_and_gate,
    split,
    train_ranking,
    train_retrieval,
)
from tests.integration.conftest import TINY_ARGS

pytestmark = pytest.mark.integration

SHOP = {"n_users": 200, "n_items": 120, "seed": 1}


def _run_steps(source: str, settings: Settings, work: Path) -> dict:
    """ingest -> split -> features -> two-tower -> ranker -> evaluate -> index -> register, as
    ``pipelines/training.py`` wires them; returns each step's summary."""
    p = {name: work / name for name in ("interactions", "items", "train", "test", "fit", "label")}
    out: dict = {"ingest": ingest(source, p["interactions"], p["items"], settings)}
    out["split"] = split(p["interactions"], p["train"], p["test"], p["fit"], p["label"])
    build_features(p["interactions"], p["items"], work / "features", settings)
    tower, ranker = work / "tower", work / "ranker"
    epochs, dim, k = TINY_ARGS["epochs"], TINY_ARGS["embedding_dim"], TINY_ARGS["candidate_k"]
    train_retrieval(
        p["train"], p["fit"], p["label"], p["items"], tower, epochs=epochs, embedding_dim=dim
    )
    train_ranking(tower, p["fit"], p["label"], p["items"], ranker, candidate_k=k, settings=settings)
    reports = {n: work / f"evaluation.{n}" for n in ("json", "html", "md")}
    out["evaluate"] = evaluate(
        tower, ranker, p["train"], p["test"], p["items"], reports["json"], reports["html"],
        reports["md"], work / "predictions", candidate_k=k, settings=settings,
    )  # fmt: skip
    out["index"] = index_items(tower, p["items"], work / "index.json", settings=settings)
    params = {"source": source, "epochs": epochs, "embedding_dim": dim, "candidate_k": k}
    inputs = GateInputs(
        tower, ranker, reports["json"], p["train"], p["test"], p["items"], work / "predictions",
        {"html": reports["html"], "md": reports["md"]},
    )  # fmt: skip
    out["register"] = register_and_gate(
        inputs, out["index"]["collection"], params, work / "decision.json", settings
    )
    return out


def test_a_shop_named_by_skus_trains_registers_and_serves_its_strings(tmp_path: Path) -> None:
    interactions, items = generate_synthetic(**SHOP, string_ids=True)
    assert interactions[ITEM_ID].str.startswith("SKU-").all()
    assert interactions[USER_ID].str.startswith("user-").all()
    folder = tmp_path / "shop"
    folder.mkdir()
    interactions.to_parquet(folder / INTERACTIONS_FILE, index=False)
    items.to_parquet(folder / ITEMS_FILE, index=False)
    settings = Settings(state_dir=tmp_path / "state")
    settings.ensure_dirs()

    result = _run_steps(str(folder), settings, tmp_path / "work")

    # Nothing merged or lost by the mapping: the same shop named by integers ingests alike.
    plain = ingest(
        "synthetic:" + ",".join(f"{k}={v}" for k, v in SHOP.items()),
        tmp_path / "plain_interactions",
        tmp_path / "plain_items",
        Settings(state_dir=tmp_path / "plain_state"),
    )
    assert {k: result["ingest"][k] for k in ("interactions", "users", "items")} == {
        k: plain[k] for k in ("interactions", "users", "items")
    }
    # Evaluation ran on the internal ids: every figure finite, rates within [0, 1].
    assert {"popularity", "item_knn", "two_tower", "two_tower_ranker"} <= set(result["evaluate"])
    for system, figures in result["evaluate"].items():
        for name, value in figures.items():
            assert math.isfinite(value), (system, name, value)
            if name.startswith(("recall@", "ndcg@", "hit_rate@", "coverage@")):
                assert 0.0 <= value <= 1.0, (system, name, value)
    assert result["index"]["items"] == int(items["available"].sum())
    assert result["register"]["promoted"]  # the first run: no champion to beat

    # The champion's serving tables carry each SKU beside its internal id: serving answers by it.
    client = registry_client(settings.resolved_mlflow_uri)
    ranker = alias_version(client, settings.ranker_model_name, CHAMPION)
    assert ranker is not None
    folder_out = mlflow.artifacts.download_artifacts(
        run_id=ranker.run_id,
        artifact_path=TABLES_ARTIFACT,
        tracking_uri=settings.resolved_mlflow_uri,
        dst_path=str(tmp_path / "download"),
    )
    tables = load_serving_tables(folder_out)
    served = tables.items.set_index(ITEM_ID)[EXTERNAL_ID]
    assert len(served) == len(items)
    assert all(is_hashed(int(i)) for i in served.index)
    assert {internal_item_id(name): name for name in items[ITEM_ID]} == served.to_dict()
    catalog = Catalog.from_items(tables.items)
    popular = tables.popularity[ITEM_ID].head(5).tolist()
    assert all(str(name).startswith("SKU-") for name in catalog.external_ids(popular))
    # The report and the predictions hold internal ids only (the raw user strings never).
    assert "user-0" not in (tmp_path / "work" / "evaluation.json").read_text()
    predictions = pd.read_parquet(tmp_path / "work" / "predictions")
    assert pd.api.types.is_integer_dtype(predictions[USER_ID])
    assert json.loads((tmp_path / "work" / "decision.json").read_text())["promoted"]
