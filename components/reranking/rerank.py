"""The re-ranking stage: rules first, then MMR with the category cap, on arrays."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from components.reranking.mmr import mmr
from components.reranking.rules import eligible

# Serving's defaults (``serving.config.RankingOptions``), declared here so offline evaluation
# re-ranks its lists as serving does (``evaluation.lists.reranked_lists``).
MMR_LAMBDA = 0.8
CATEGORY_CAP = 3


@dataclass(frozen=True)
class Reranked:
    indices: np.ndarray  # into the candidate arrays, in display order
    eligible: int  # candidates that passed the rules
    cap_relaxed: bool  # the category cap yielded to fill k


def rerank(
    item_ids: np.ndarray,
    scores: np.ndarray,
    *,
    k: int,
    vectors: np.ndarray | None = None,
    categories: np.ndarray | None = None,
    seen: Iterable[int] | np.ndarray | None = None,
    exclude: Iterable[int] | np.ndarray | None = None,
    available: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
    mmr_lambda: float = 1.0,
    category_cap: int | None = None,
) -> Reranked:
    """Drop what the rules forbid (already seen, excluded, unavailable, outside the requested
    categories), then pick ``k`` by MMR over the ranker ``scores`` with at most
    ``category_cap`` items per (primary) category. Never fewer than min(k, eligible) items."""
    ids = np.asarray(item_ids, dtype=np.int64)
    ok = np.flatnonzero(
        eligible(ids, seen=seen, exclude=exclude, available=available, allowed=allowed)
    )
    picks, relaxed = mmr(
        np.asarray(scores, dtype=np.float64)[ok],
        None if vectors is None else np.asarray(vectors)[ok],
        k,
        mmr_lambda,
        groups=None if categories is None else np.asarray(categories, dtype=object)[ok],
        cap=category_cap,
    )
    return Reranked(ok[picks], len(ok), relaxed)
