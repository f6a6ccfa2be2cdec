"""Raw ids (int64 user/item ids, category names) -> contiguous embedding-table rows.

Row 0 is reserved for "unknown": a user, item or category never seen when the vocabulary was
built maps to 0, so serving never fails on a new id and the model has one trained row for it.
Known values get rows 1..n in sorted order, which makes a vocabulary a pure function of the
set of values (same data, same rows) and keeps its JSON form small and diff-able. User ids are
keyed hashes, so sorting them would give rows by key: a user vocabulary keeps the order it is
given (``ordered=True``: the content order of ``data.order.user_order``), and a saved
vocabulary restores its rows exactly as saved.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

UNKNOWN = 0


class Vocabulary:
    """An ordered set of known values; ``lookup`` maps values to rows, unknown -> 0.

    Rows follow the sorted values, or with ``ordered=True`` the order of first appearance."""

    def __init__(self, values: Iterable[Hashable], *, ordered: bool = False) -> None:
        unique = pd.unique(pd.Series(list(values), dtype=object))
        known = [_plain(v) for v in unique if not _missing(v)]
        if not ordered:
            known = sorted(known)
        self._values: list[Any] = known
        self._index = pd.Index(known)
        if not self._index.is_unique:
            raise ValueError("vocabulary values must be unique")

    @property
    def values(self) -> list[Any]:
        """Known values in row order (row = position + 1)."""
        return list(self._values)

    def __len__(self) -> int:
        """Rows an embedding table needs: the known values plus the unknown row."""
        return len(self._values) + 1

    def __contains__(self, value: object) -> bool:
        return _plain(value) in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._values == other._values

    def __repr__(self) -> str:
        return f"Vocabulary({len(self._values)} known values + unknown)"

    def lookup(self, values: Iterable[Hashable]) -> np.ndarray:
        """Rows (int64) for ``values``; anything unknown, None or NaN maps to 0."""
        if isinstance(values, np.ndarray | pd.Series | pd.Index):
            query = pd.Index(np.asarray(values))
        else:
            query = pd.Index([_plain(v) for v in values], dtype=object)
        if len(query) == 0 or len(self._index) == 0:
            return np.zeros(len(query), dtype=np.int64)
        positions = self._index.get_indexer(query)
        return (positions + 1).astype(np.int64)  # -1 (unknown) + 1 == UNKNOWN

    def value_of(self, row: int) -> Any:
        """The value at ``row``; None for the unknown row."""
        return None if row == UNKNOWN else self._values[row - 1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; ``from_dict`` restores an equal vocabulary."""
        return {"unknown_row": UNKNOWN, "values": list(self._values)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabulary:
        if data.get("unknown_row", UNKNOWN) != UNKNOWN:
            raise ValueError(f"unsupported vocabulary: unknown row {data['unknown_row']}")
        return cls(data["values"], ordered=True)  # rows as saved (sorted ones stay sorted)


def lookup_bags(vocab: Vocabulary, bags: Sequence[Sequence[Any]]) -> list[np.ndarray]:
    """Vocabulary rows of each bag, unknown values dropped, order kept (one vectorised lookup)."""
    lengths = [len(b) for b in bags]
    flat = [v for b in bags for v in b]
    rows = vocab.lookup(np.asarray(flat) if flat else [])
    return [b[b != UNKNOWN] for b in np.split(rows, np.cumsum(lengths)[:-1])] if bags else []


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so lookups, sorting and JSON agree on one type."""
    return value.item() if isinstance(value, np.generic) else value
