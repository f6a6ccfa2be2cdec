import json

import numpy as np
import pytest

from components.two_tower.content import CONTENT_BUCKETS
from components.two_tower.export import (
    CATALOG_FILE,
    CONFIG_FILE,
    STATE_FILE,
    VOCAB_FILE,
    TwoTowerRetrieval,
    load_two_tower,
    save_two_tower,
)
from components.two_tower.train import train_two_tower


@pytest.fixture(scope="module")
def trained():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = [(u, int(i), t) for u in range(1, 21) for t, i in enumerate(rng.choice(30, 6, False))]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "seconds"])
    interactions = pd.DataFrame(
        {
            "user_id": frame["user_id"].astype("int64"),
            "item_id": frame["item_id"].astype("int64"),
            "event_type": "view",
            "timestamp": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(frame["seconds"], unit="s"),
        }
    )
    # Items 30 to 33 are in the catalog but never interacted with (cold items); 32 and 33 share
    # their categories and differ by title only.
    items = pd.DataFrame(
        {
            "item_id": np.arange(34, dtype="int64"),
            "title": ["x"] * 32 + ["Space Saga (1977)", "Love Letters (1999)"],
            "categories": ["A|B" if i % 2 else "C" for i in range(30)] + ["A|B", "C", "A|B", "A|B"],
            "available": True,
            "created_at": pd.Timestamp("2026-01-01", tz="UTC"),
        }
    )
    return train_two_tower(
        interactions,
        items,
        embedding_dim=8,
        epochs=1,
        progress=False,
        content_buckets=CONTENT_BUCKETS,
    )


def test_save_then_load_gives_identical_embeddings(trained, tmp_path):
    save_two_tower(trained, tmp_path / "model")
    assert {p.name for p in (tmp_path / "model").iterdir()} == {
        STATE_FILE,
        CONFIG_FILE,
        VOCAB_FILE,
        CATALOG_FILE,
    }
    loaded = load_two_tower(tmp_path / "model")
    memory = TwoTowerRetrieval.from_trained(trained)
    users, histories = [1, 2, 999], [[3, 4], [], [5, 6, 12345]]
    np.testing.assert_array_equal(
        loaded.user_embeddings(users, histories), memory.user_embeddings(users, histories)
    )
    ids_l, vec_l = loaded.item_embeddings()
    ids_m, vec_m = memory.item_embeddings()
    np.testing.assert_array_equal(ids_l, ids_m)
    np.testing.assert_array_equal(vec_l, vec_m)
    assert loaded.embedding_dim == 8 and loaded.history_length == trained.config.history_length
    meta = json.loads((tmp_path / "model" / CONFIG_FILE).read_text())
    assert meta["loss_history"] == pytest.approx(trained.loss_history)


def test_vectors_are_float32_unit_length(trained):
    retrieval = TwoTowerRetrieval.from_trained(trained)
    users = retrieval.user_embeddings([1, 2], [[1], [2, 3]])
    ids, items = retrieval.item_embeddings([1, 2, 3])
    assert users.dtype == np.float32 and items.dtype == np.float32
    assert users.shape == (2, 8) and items.shape == (3, 8)
    assert ids.tolist() == [1, 2, 3]
    np.testing.assert_allclose(np.linalg.norm(users, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(items, axis=1), 1.0, rtol=1e-5)


def test_catalog_includes_cold_items_embedded_by_category(trained):
    retrieval = TwoTowerRetrieval.from_trained(trained)
    ids, vectors = retrieval.item_embeddings()
    assert ids.tolist() == list(range(34))
    cold_ab, cold_c = vectors[30], vectors[31]
    assert not np.allclose(cold_ab, cold_c)  # same unknown id row, different categories
    outside_ab = retrieval.item_embeddings([777])[1][0]  # not in the catalog: no categories
    assert not np.allclose(outside_ab, cold_ab)


def test_a_cold_item_gets_a_non_zero_embedding_that_differs_by_its_content(trained, tmp_path):
    assert trained.config.content_buckets > 0
    save_two_tower(trained, tmp_path / "model")
    for retrieval in (TwoTowerRetrieval.from_trained(trained), load_two_tower(tmp_path / "model")):
        _, vectors = retrieval.item_embeddings([32, 33])
        space, love = vectors
        assert np.linalg.norm(space) > 0.5 and np.linalg.norm(love) > 0.5
        assert not np.allclose(space, love, atol=1e-4)  # same categories, different titles


def test_a_known_items_vector_does_not_depend_on_its_title(trained):
    """Content speaks only for items known by nothing else: a trained item's vector is its id's
    and categories' (the title of a known item changing moves nothing)."""
    retrieval = TwoTowerRetrieval.from_trained(trained)
    known = int(trained.items.values[0])
    before = retrieval.item_embeddings([known])[1]
    retrieval._content[known] = ["w:entirely", "w:different", "decade:1950"]
    np.testing.assert_array_equal(retrieval.item_embeddings([known])[1], before)


def test_unknown_history_items_are_ignored(trained):
    retrieval = TwoTowerRetrieval.from_trained(trained)
    with_noise = retrieval.user_embeddings([5], [[123456, 3]])
    clean = retrieval.user_embeddings([5], [[3]])
    np.testing.assert_allclose(with_noise, clean, rtol=1e-6)
    with pytest.raises(ValueError):
        retrieval.user_embeddings([1, 2], [[1]])


def test_a_new_item_embeds_from_its_categories_once_added(trained):
    model = TwoTowerRetrieval.from_trained(trained)
    blank = model.item_embeddings([500])[1]
    model.add_items([500, 501, 2], [["A", "B"], ["A", "B"], ["Z"]])
    added = model.item_embeddings([500, 501])[1]
    assert not np.allclose(added[0], blank[0])  # the categories count now
    np.testing.assert_allclose(added[0], added[1])  # the same content, the same vector
    np.testing.assert_array_equal(
        model.catalog_ids, TwoTowerRetrieval.from_trained(trained).catalog_ids
    )
    trained_vector = TwoTowerRetrieval.from_trained(trained).item_embeddings([2])[1]
    np.testing.assert_allclose(model.item_embeddings([2])[1], trained_vector)  # kept
