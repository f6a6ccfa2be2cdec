"""The id key is not a hidden seed: the same data pseudonymized under two keys, through the
pipeline's own steps (ingest, split, Feast features, two-tower with its validation-chosen
epochs, ranker with its gate, final evaluation), gives the same figures to the fourth decimal.

User ids are keyed hashes (``privacy.ids``), so under another key every user id, and the
order of users by id, is different; only the data's content may decide a result
(``data.order.user_order``). The same seed and key giving the same figures is
``tests/unit/components/test_reproducible.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components import steps
from components.settings import Settings

pytestmark = pytest.mark.integration

SOURCE = "synthetic:n_users=80,n_items=60,interactions_per_user=20,seed=3"


def run_steps(folder: Path, key: str) -> dict[str, float]:
    """The training steps up to the final evaluation; every figure of the report."""
    settings = Settings(state_dir=folder / "state", id_key=key)
    settings.ensure_dirs()
    data = folder / "data"
    paths = {name: data / f"{name}.parquet" for name in ("all", "items", "train", "test", "fit")}
    paths["label"] = data / "label.parquet"
    steps.ingest(SOURCE, paths["all"], paths["items"], settings)
    steps.split(paths["all"], paths["train"], paths["test"], paths["fit"], paths["label"])
    steps.build_features(paths["train"], paths["items"], folder / "features", settings)
    tower, ranker = folder / "tower", folder / "ranker"
    trained = steps.train_retrieval(
        paths["train"],
        paths["fit"],
        paths["label"],
        paths["items"],
        tower,
        epochs=2,
        embedding_dim=8,
        seed=5,
    )
    ranked = steps.train_ranking(
        tower,
        paths["fit"],
        paths["label"],
        paths["items"],
        ranker,
        candidate_k=40,
        seed=5,
        settings=settings,
    )
    reports = folder / "reports"
    results = steps.evaluate(
        tower,
        ranker,
        paths["train"],
        paths["test"],
        paths["items"],
        reports / "evaluation.json",
        reports / "evaluation.html",
        reports / "evaluation.md",
        reports / "predictions.parquet",
        candidate_k=40,
        seed=5,
        settings=settings,
    )
    report = json.loads((reports / "evaluation.json").read_text())
    figures = {f"retrieval.{k}": float(v) for k, v in trained.items() if k != "train_seconds"}
    figures.update({f"ranker.{k}": float(v) for k, v in ranked.items()})
    figures.update(
        {f"{system}.{k}": float(v) for system, found in results.items() for k, v in found.items()}
    )
    figures["users_evaluated"] = float(report["context"]["users_evaluated"])
    return figures


def test_two_id_keys_give_the_same_figures(tmp_path: Path) -> None:
    first = run_steps(tmp_path / "a", "reproducibility-key-one")
    second = run_steps(tmp_path / "b", "reproducibility-key-two")
    assert first.keys() == second.keys()
    differ = {k: (first[k], second[k]) for k in first if round(first[k], 4) != round(second[k], 4)}
    assert not differ, differ
    # the figures compared are real ones: every system found something
    for system in ("als", "item_knn", "two_tower", "two_tower_ranker"):
        assert first[f"{system}.recall@100"] > 0
