"""The item-vector cache of a loaded tower."""

import numpy as np

from components.recommend.tower import ItemVectors


class TinyTower:
    """Stands in for TwoTowerRetrieval's item side: vector = [id, 1]."""

    catalog_ids = np.array([3, 5, 9])

    def __init__(self) -> None:
        self.calls = 0

    def item_embeddings(self, ids=None):
        self.calls += 1
        ids = self.catalog_ids if ids is None else np.asarray(ids, dtype=np.int64)
        return ids, np.stack([ids.astype(np.float32), np.ones(len(ids), np.float32)], axis=1)


def test_cached_vectors_equal_computed_ones_and_unknown_ids_are_computed():
    tower = TinyTower()
    cached = ItemVectors(tower, max_items=10)
    assert tower.calls == 1  # the whole catalog, once
    assert cached(np.array([9, 3])).tolist() == [[9, 1], [3, 1]]
    assert tower.calls == 1
    assert cached(np.array([5, 7])).tolist() == [[5, 1], [7, 1]]  # 7 is not in the catalog
    uncached = ItemVectors(TinyTower(), max_items=2)
    assert uncached(np.array([9, 3])).tolist() == [[9, 1], [3, 1]]
