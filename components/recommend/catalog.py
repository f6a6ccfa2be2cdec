"""The item catalog as arrays, for the rules and reasons of the request path.

Serving looks items up by id thousands of times per second; a frame lookup per item is too slow,
so the catalog is held as sorted id array + aligned columns and every lookup is vectorised
(``np.searchsorted``). Ids the catalog does not know are "unknown": not available, no category,
no title.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from components.data.columns import AVAILABLE, CATEGORIES, ITEM_ID, TITLE
from components.data.contract import split_categories


class Catalog:
    """Items by id: title, categories (first = primary) and availability."""

    def __init__(
        self,
        item_ids: Sequence[int] | np.ndarray,
        titles: Sequence[str],
        categories: Sequence[Sequence[str]],
        available: Sequence[bool] | np.ndarray,
    ) -> None:
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        if not (len(ids) == len(titles) == len(categories) == len(available)):
            raise ValueError("one title, category list and availability per item id")
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        if len(ids) and (np.diff(ids) == 0).any():
            raise ValueError("catalog item ids must be unique")
        self.ids = ids
        self.titles = np.asarray([str(titles[i]) for i in order], dtype=object)
        self.categories = [list(categories[i]) for i in order]
        self.available = np.asarray(available, dtype=bool)[order]
        self.primary = np.asarray([c[0] if c else "" for c in self.categories], dtype=object)

    @classmethod
    def from_items(cls, items: pd.DataFrame) -> Catalog:
        """From a frame with the catalog contract's columns (``title``/``available`` optional)."""
        n = len(items)
        titles = items[TITLE].fillna("").astype(str).tolist() if TITLE in items else [""] * n
        available = (
            items[AVAILABLE].fillna(False).astype(bool).to_numpy()
            if AVAILABLE in items
            else np.ones(n, dtype=bool)
        )
        cats = [split_categories(v) for v in items[CATEGORIES]] if CATEGORIES in items else []
        return cls(items[ITEM_ID].to_numpy(np.int64), titles, cats or [[]] * n, available)

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, item_ids: Iterable[int] | np.ndarray) -> np.ndarray:
        """Row of each id in the catalog, -1 where unknown."""
        ids = np.asarray(list(item_ids) if not isinstance(item_ids, np.ndarray) else item_ids)
        ids = ids.astype(np.int64).reshape(-1)
        if not len(self.ids):
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        pos = np.minimum(pos, len(self.ids) - 1)
        return np.where(self.ids[pos] == ids, pos, -1).astype(np.int64)

    def contains(self, item_ids: Iterable[int] | np.ndarray) -> np.ndarray:
        return self.positions(item_ids) >= 0

    def is_available(self, item_ids: Iterable[int] | np.ndarray) -> np.ndarray:
        pos = self.positions(item_ids)
        return np.where(pos >= 0, self.available[np.maximum(pos, 0)], False)

    def primary_categories(self, item_ids: Iterable[int] | np.ndarray) -> np.ndarray:
        pos = self.positions(item_ids)
        out = np.full(len(pos), "", dtype=object)
        out[pos >= 0] = self.primary[pos[pos >= 0]]
        return out

    def categories_of(self, item_ids: Iterable[int] | np.ndarray) -> list[list[str]]:
        return [self.categories[p] if p >= 0 else [] for p in self.positions(item_ids)]

    def title(self, item_id: int) -> str:
        pos = int(self.positions([item_id])[0])
        return str(self.titles[pos]) if pos >= 0 else ""

    def titles_of(self, item_ids: Iterable[int] | np.ndarray) -> list[str]:
        return [str(self.titles[p]) if p >= 0 else "" for p in self.positions(item_ids)]

    def in_categories(
        self, item_ids: Iterable[int] | np.ndarray, wanted: Iterable[str] | None
    ) -> np.ndarray:
        """True where an item carries any of ``wanted`` (all True when nothing is wanted)."""
        wanted_set = {str(c) for c in wanted or ()}
        pos = self.positions(item_ids)
        if not wanted_set:
            return np.ones(len(pos), dtype=bool)
        return np.asarray(
            [p >= 0 and not wanted_set.isdisjoint(self.categories[p]) for p in pos], dtype=bool
        )
