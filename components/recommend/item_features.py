"""Item features held by the Ranking replica: read once per model load or materialization.

Item features belong to a materialization, not to a request, so the replica reads every item's
row from the online store in bulk (``ItemFeatures.load``) and a request takes its candidates'
rows by index (``rows``): the same rows, defaults and ``found`` flags an online read for those
ids returns (``features.store.online_features``), so ``ranker_feature_frame`` builds the same
matrix either way. An id the held rows do not cover (an item added since) is read online; one
the store does not know at all (a catalog item never materialized) is remembered after that
read and takes the store's "unknown item" row by index from then on, as the read would give it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from components.data.columns import ITEM_ID
from components.features.store import FOUND
from components.recommend.request import ReadFeatures
from components.recommend.scoring import ABSENT_ID, ItemMatrix, found_flags

CHUNK = 2000  # ids per bulk read (one Feast call each)


@dataclass
class ItemFeatures:
    frame: pd.DataFrame  # one row per item id, sorted by id (the index)
    signature: str  # the store's materialization it was read from
    loaded_at: float = field(default_factory=time.time)
    matrix: ItemMatrix | None = None  # the ranker matrix's item side, built at load

    @classmethod
    def load(
        cls, read: ReadFeatures, item_ids: Sequence[int] | np.ndarray, signature: str
    ) -> ItemFeatures:
        ids = np.unique(np.asarray(item_ids, dtype=np.int64))
        parts = [read([], ids[i : i + CHUNK].tolist())[1] for i in range(0, len(ids), CHUNK)]
        frame = pd.concat(parts) if parts else read([], [])[1]
        unknown = read([], [ABSENT_ID])[1]  # what the store answers for an item it lacks
        matrix = ItemMatrix.from_rows(frame, unknown)
        return cls(frame.sort_index(), signature, matrix=matrix)

    def describe(self) -> dict[str, object]:
        return {"items": len(self), "materialization": self.signature, "loaded_at": self.loaded_at}

    def __len__(self) -> int:
        return len(self.frame)

    def rows(
        self, item_ids: Sequence[int] | np.ndarray, read_missing: ReadFeatures | None = None
    ) -> pd.DataFrame:
        """Rows for the unique ``item_ids`` in first-seen order, indexed by id, as an online read
        returns them; ids not held are read with ``read_missing`` (or left out without one)."""
        ids = pd.unique(np.asarray(item_ids, dtype=np.int64))
        held = self.frame.index.to_numpy()
        positions = np.searchsorted(held, ids).clip(0, max(len(held) - 1, 0))
        known = (held[positions] == ids) if len(held) else np.zeros(len(ids), dtype=bool)
        rows = self.frame.iloc[positions[known]]
        if known.all() or read_missing is None:
            return rows
        extra = read_missing([], ids[~known].tolist())[1]
        if self.matrix is not None and FOUND in extra:  # catalog items the store lacks
            self.matrix.note_absent(extra.index[~found_flags(extra)])
        rows = pd.concat([rows, extra])
        return rows.reindex(pd.Index(ids, name=ITEM_ID, dtype="int64"))
