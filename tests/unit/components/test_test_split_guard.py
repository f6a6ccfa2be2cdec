"""The test split is read only by the final evaluation: the split step marks the test file, and
every other step's reader refuses it, whatever the pipeline wiring hands that step."""

from pathlib import Path

import pandas as pd
import pytest

from components.data.synthetic import generate_synthetic
from components.steps import HeldOutSplitRead, _read, split, train_retrieval


@pytest.fixture
def split_files(tmp_path: Path) -> dict[str, Path]:
    interactions, items = generate_synthetic(n_users=30, n_items=40, interactions_per_user=12)
    interactions.to_parquet(tmp_path / "interactions.parquet", index=False)
    items.to_parquet(tmp_path / "items.parquet", index=False)
    paths = {name: tmp_path / f"{name}.parquet" for name in ("train", "test", "fit", "label")}
    split(tmp_path / "interactions.parquet", *paths.values())
    return {**paths, "items": tmp_path / "items.parquet"}


def test_only_the_final_evaluation_may_read_the_test_split(split_files: dict[str, Path]) -> None:
    with pytest.raises(HeldOutSplitRead, match="test split"):
        _read(split_files["test"])
    test = _read(split_files["test"], final_evaluation=True)
    assert test.equals(pd.read_parquet(split_files["test"]))  # the mark changes no data
    assert len(test) > 0
    for name in ("train", "fit", "label"):  # the training windows read as before
        assert len(_read(split_files[name])) > 0


def test_a_training_step_handed_the_test_split_fails_loudly(
    split_files: dict[str, Path], tmp_path: Path
) -> None:
    for wired_as in ("train_path", "fit_path", "label_path"):
        paths = {
            "train_path": split_files["train"],
            "fit_path": split_files["fit"],
            "label_path": split_files["label"],
            wired_as: split_files["test"],
        }
        with pytest.raises(HeldOutSplitRead):
            train_retrieval(
                **paths,
                items_path=split_files["items"],
                model_dir=tmp_path / "model",
                epochs=1,
                embedding_dim=8,
            )
