"""Business rules as array functions over a candidate list (aligned arrays, one entry per item).

Merlin's ``FilterCandidates`` shape: every rule is a boolean mask computed with ``np.isin`` and
friends, so rules compose with ``&`` and cost microseconds for hundreds of candidates.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def _ids(values: Iterable[int] | np.ndarray | None) -> np.ndarray:
    if values is None:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(list(values) if not isinstance(values, np.ndarray) else values).astype(
        np.int64
    )


def not_in(item_ids: np.ndarray, banned: Iterable[int] | np.ndarray | None) -> np.ndarray:
    """True where the item is not in ``banned`` (already seen, the client's exclude list)."""
    return ~np.isin(np.asarray(item_ids, dtype=np.int64), _ids(banned))


def first_occurrence(item_ids: np.ndarray) -> np.ndarray:
    """True on the first occurrence of each id (a duplicate candidate is never shown twice)."""
    ids = np.asarray(item_ids, dtype=np.int64)
    mask = np.zeros(len(ids), dtype=bool)
    mask[np.unique(ids, return_index=True)[1]] = True
    return mask


def eligible(
    item_ids: np.ndarray,
    *,
    seen: Iterable[int] | np.ndarray | None = None,
    exclude: Iterable[int] | np.ndarray | None = None,
    available: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """The rules every shown item must pass: not seen, not excluded, available, in the
    requested categories (``allowed``), and not a duplicate."""
    ids = np.asarray(item_ids, dtype=np.int64)
    mask = not_in(ids, seen) & not_in(ids, exclude) & first_occurrence(ids)
    if available is not None:
        mask &= np.asarray(available, dtype=bool)
    if allowed is not None:
        mask &= np.asarray(allowed, dtype=bool)
    return mask
