"""Maximal Marginal Relevance (Carbonell & Goldstein, 1998) with an optional per-group cap.

Each step picks ``argmax lambda * relevance - (1 - lambda) * max similarity to the picked
items``: lambda = 1 is the ranker's order, lambda = 0 the most diverse list. Relevance is
min-max scaled to [0, 1] so lambda means the same whatever the ranker's score range; similarity
is the cosine of the item vectors.
"""

from __future__ import annotations

import numpy as np


def scale(values: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1]; constant input -> ones (every item equally relevant)."""
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return values
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-12:
        return np.ones_like(values)
    return (values - low) / (high - low)


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    return unit @ unit.T


def mmr(
    relevance: np.ndarray,
    vectors: np.ndarray | None,
    k: int,
    lam: float,
    groups: np.ndarray | None = None,
    cap: int | None = None,
) -> tuple[np.ndarray, bool]:
    """Indices of at most ``k`` items in pick order, and whether the cap had to be relaxed.

    With ``groups`` and ``cap``, an item whose group already has ``cap`` picks waits; only when
    nothing else is left and fewer than ``k`` are picked does the cap yield (a short answer is
    worse than a crowded one). Without vectors, MMR is the relevance order (plus the cap).
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"MMR lambda must be in [0, 1], got {lam}")
    n = len(relevance)
    k = min(int(k), n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64), False
    rel = scale(relevance)
    sim = cosine_matrix(vectors) if vectors is not None and lam < 1.0 else None
    max_sim = np.zeros(n)
    taken = np.zeros(n, dtype=bool)
    capped = groups is not None and cap is not None
    if capped:
        names, codes = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
        counts = np.zeros(len(names), dtype=np.int64)
        uncapped = codes == (np.flatnonzero(names == "")[0] if (names == "").any() else -1)
    picks: list[int] = []
    relaxed = False
    for _ in range(k):
        gain = lam * rel - (1.0 - lam) * max_sim if sim is not None else rel.copy()
        gain[taken] = -np.inf
        if capped:
            full = (counts[codes] >= cap) & ~uncapped
            open_gain = np.where(full, -np.inf, gain)
            if np.isfinite(open_gain).any():
                gain = open_gain
            else:
                relaxed = True
        best = int(np.argmax(gain))
        if not np.isfinite(gain[best]):
            break
        picks.append(best)
        taken[best] = True
        if capped:
            counts[codes[best]] += 1
        if sim is not None:
            max_sim = np.maximum(max_sim, sim[best])
    return np.asarray(picks, dtype=np.int64), relaxed
