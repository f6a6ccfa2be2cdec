"""A loaded two-tower version as serving uses it: the model and its item vectors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

VECTOR_CACHE_ITEMS = 250_000  # ~64 MB of float32 at dim 64 per replica


class ItemVectors:
    """The item tower's vectors, precomputed for the whole catalog when it is small enough
    (``max_items``; 64 floats each), else computed per request. The same numbers either way:
    the tower is deterministic in eval mode."""

    def __init__(self, tower: Any, max_items: int) -> None:
        self._tower = tower
        self._ids = np.zeros(0, dtype=np.int64)
        self._vectors: np.ndarray | None = None
        if len(tower.catalog_ids) <= max_items:
            self._ids, self._vectors = tower.item_embeddings(None)

    def __call__(self, item_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        if self._vectors is None or not len(self._ids):
            return self._tower.item_embeddings(ids)[1]
        pos = np.minimum(np.searchsorted(self._ids, ids), len(self._ids) - 1)
        hit = self._ids[pos] == ids
        if hit.all():
            return self._vectors[pos]
        out = np.empty((len(ids), self._vectors.shape[1]), dtype=np.float32)
        out[hit] = self._vectors[pos[hit]]
        out[~hit] = self._tower.item_embeddings(ids[~hit])[1]
        return out


@dataclass
class Tower:
    """A loaded two-tower version: the serving model (``TwoTowerRetrieval``: user side,
    ``history_length``, ``catalog_ids``) and its item vectors."""

    model: Any
    vectors: ItemVectors

    @classmethod
    def load(cls, folder: Path) -> Tower:
        from components.two_tower.export import load_two_tower  # torch: only where towers load

        model = load_two_tower(folder)
        return cls(model, ItemVectors(model, VECTOR_CACHE_ITEMS))
