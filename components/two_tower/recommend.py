"""Exact top-k by brute-force dot product, for offline evaluation.

Serving searches Milvus instead; this is the reference it approximates, batched over users so
memory stays at (batch x catalog) floats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from components.two_tower.export import TwoTowerRetrieval

USER_BATCH = 1024


def top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and scores of each row's k best entries, best first (-inf entries are
    ranked last; callers drop them). Ties break by column index, so results are repeatable."""
    k = min(k, scores.shape[1])
    if k == 0:
        empty = np.zeros((scores.shape[0], 0))
        return empty.astype(np.int64), empty.astype(scores.dtype)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    top = np.take_along_axis(part, order, axis=1)
    return top, np.take_along_axis(scores, top, axis=1)


def recommend_two_tower(
    retrieval: TwoTowerRetrieval,
    users: Sequence[int],
    histories: Mapping[int, Sequence[int]],
    k: int,
    exclude: Mapping[int, Set[int]] | None = None,
    candidate_items: np.ndarray | None = None,
    progress: bool = False,
) -> tuple[dict[int, list[int]], dict[int, list[float]]]:
    """Top-``k`` items per user by exact dot product: (user -> item ids, user -> scores).

    ``histories``: user -> raw item ids, most recent first (``recent_positive_items``); a user
    missing from it is embedded from their id alone. ``exclude``: user -> items never to return (the
    protocol excludes train items). ``candidate_items``: restrict the ranking to these ids
    (default: the whole catalog). Lists are shorter than ``k`` only when fewer candidates remain.
    """
    if isinstance(k, bool) or int(k) < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    item_ids, item_vectors = retrieval.item_embeddings(
        None if candidate_items is None else np.unique(np.asarray(candidate_items, np.int64))
    )
    position = pd.Index(item_ids)
    users = [int(u) for u in users]
    items_out: dict[int, list[int]] = {}
    scores_out: dict[int, list[float]] = {}
    starts = range(0, len(users), USER_BATCH)
    for start in tqdm(starts, desc="two-tower top-k", unit="batch", disable=not progress):
        batch = users[start : start + USER_BATCH]
        vectors = retrieval.user_embeddings(batch, [histories.get(u, []) for u in batch])
        scores = vectors @ item_vectors.T
        if exclude:
            for row, user in enumerate(batch):
                banned = exclude.get(user)
                if banned:
                    cols = position.get_indexer(np.fromiter(banned, np.int64, len(banned)))
                    scores[row, cols[cols >= 0]] = -np.inf
        top, top_scores = top_k_rows(scores, int(k))
        for row, user in enumerate(batch):
            keep = np.isfinite(top_scores[row])
            items_out[user] = item_ids[top[row][keep]].tolist()
            scores_out[user] = top_scores[row][keep].astype(float).tolist()
    return items_out, scores_out
