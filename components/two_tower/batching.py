"""Pure functions that turn index arrays into the model's ``KeyedJaggedTensor`` inputs.

Inputs are vocabulary rows (see ``vocab.py``), not raw ids: mapping happens once, upstream.
Two shapes are accepted for the bags: Python lists of lists (serving, tests) and a padded
matrix plus lengths (training, where the histories of all examples sit in one array).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchrec import KeyedJaggedTensor

from components.two_tower.model import (
    HISTORY_FEATURE,
    ITEM_CATEGORIES_FEATURE,
    ITEM_CONTENT_FEATURE,
    ITEM_ID_FEATURE,
    USER_ID_FEATURE,
)


def jagged_from_lists(bags: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, flat values) of a list of variable-length bags."""
    lengths = np.fromiter((len(b) for b in bags), dtype=np.int64, count=len(bags))
    if lengths.sum() == 0:
        return lengths, np.zeros(0, dtype=np.int64)
    values = np.concatenate([np.asarray(b, dtype=np.int64).reshape(-1) for b in bags])
    return lengths, values


def jagged_from_padded(matrix: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, flat values) from a padded (rows, width) matrix: row i keeps its first
    ``lengths[i]`` entries."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if matrix.shape[0] != len(lengths):
        raise ValueError(f"{matrix.shape[0]} rows but {len(lengths)} lengths")
    if len(lengths) and (lengths.min() < 0 or lengths.max() > matrix.shape[1]):
        raise ValueError("lengths must lie in [0, matrix width]")
    keep = np.arange(matrix.shape[1])[None, :] < lengths[:, None]
    return lengths, np.asarray(matrix, dtype=np.int64)[keep]


def _single(idx: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(idx, dtype=np.int64).reshape(-1)
    return np.ones(len(values), dtype=np.int64), values


def keyed_jagged(
    keys: Sequence[str], parts: Sequence[tuple[np.ndarray, np.ndarray]]
) -> KeyedJaggedTensor:
    """One KJT from per-key (lengths, values); every key must cover the same batch."""
    if len(keys) != len(parts):
        raise ValueError("one (lengths, values) pair per key")
    sizes = {len(lengths) for lengths, _ in parts}
    if len(sizes) != 1:
        raise ValueError(f"features disagree on the batch size: {sorted(sizes)}")
    for key, (lengths, values) in zip(keys, parts, strict=True):
        if int(lengths.sum()) != len(values):
            raise ValueError(f"{key}: lengths sum to {int(lengths.sum())}, {len(values)} values")
        if len(values) and values.min() < 0:
            raise ValueError(f"{key}: negative row index")
    return KeyedJaggedTensor.from_lengths_sync(
        keys=list(keys),
        values=torch.from_numpy(np.concatenate([v for _, v in parts]).astype(np.int64)),
        lengths=torch.from_numpy(np.concatenate([ln for ln, _ in parts]).astype(np.int64)),
    )


def user_features(
    user_idx: Sequence[int] | np.ndarray, histories: Sequence[Sequence[int]]
) -> KeyedJaggedTensor:
    """User-tower input: one user row each, plus the bag of their recent item rows."""
    return keyed_jagged(
        [USER_ID_FEATURE, HISTORY_FEATURE], [_single(user_idx), jagged_from_lists(histories)]
    )


def item_features(
    item_idx: Sequence[int] | np.ndarray,
    categories: Sequence[Sequence[int]],
    content: Sequence[Sequence[int]] | None = None,
) -> KeyedJaggedTensor:
    """Item-tower input: one item row each, the bag of its category rows and, for a model with
    a content table, the bag of its hashed content rows."""
    keys = [ITEM_ID_FEATURE, ITEM_CATEGORIES_FEATURE]
    parts = [_single(item_idx), jagged_from_lists(categories)]
    if content is not None:
        keys.append(ITEM_CONTENT_FEATURE)
        parts.append(jagged_from_lists(content))
    return keyed_jagged(keys, parts)


def user_features_padded(
    user_idx: np.ndarray, history: np.ndarray, history_lengths: np.ndarray
) -> KeyedJaggedTensor:
    """``user_features`` from a padded history matrix (the training path: no Python loops)."""
    return keyed_jagged(
        [USER_ID_FEATURE, HISTORY_FEATURE],
        [_single(user_idx), jagged_from_padded(history, history_lengths)],
    )


def item_features_padded(
    item_idx: np.ndarray,
    categories: np.ndarray,
    category_lengths: np.ndarray,
    content: tuple[np.ndarray, np.ndarray] | None = None,
) -> KeyedJaggedTensor:
    """``item_features`` from padded category (and content: matrix, lengths) matrices."""
    keys = [ITEM_ID_FEATURE, ITEM_CATEGORIES_FEATURE]
    parts = [_single(item_idx), jagged_from_padded(categories, category_lengths)]
    if content is not None:
        keys.append(ITEM_CONTENT_FEATURE)
        parts.append(jagged_from_padded(*content))
    return keyed_jagged(keys, parts)
