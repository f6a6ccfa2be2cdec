"""What users see, measured: the re-ranked list, and its diversity and novelty beside accuracy.

Accuracy metrics score the ranker's order; a user gets that order after the business rules and
MMR (``components.reranking``). ``reranked_lists`` applies the same ``rerank`` serving applies,
with serving's defaults, to each user's scored candidates, so the report can score the served
list too. Two list-level metrics, for every system:

- ``diversity@k``: intra-list category diversity, the mean over pairs of items in a user's top-k
  of the Jaccard distance of their category sets (0 = every item in the same categories, 1 = no
  two items share one); users with fewer than two items are skipped.
- ``novelty@k``: mean self-information of the top-k items, ``-log2 p(i)`` with ``p(i)`` the
  share of train users with a positive event on ``i``, smoothed ``(users_i + 1) / (users + 1)``
  so an item no train user touched is finite (the rarest possible); users with no items are
  skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from components.data.columns import CATEGORIES, ITEM_ID, USER_ID
from components.data.contract import primary_category, split_categories
from components.data.events import EventTable, event_weights
from components.reranking.rerank import CATEGORY_CAP, MMR_LAMBDA, rerank

Recommendations = Mapping[int, Sequence[int]]
ScoredCandidates = Mapping[int, tuple[np.ndarray, np.ndarray]]  # user -> (item ids, scores)
LIST_METRICS = ("diversity", "novelty")


def _top_unique(items: Iterable[int], k: int) -> list[int]:
    out: list[int] = []
    for item in list(items)[:k]:
        if item not in out:
            out.append(int(item))
    return out


def intra_list_diversity(
    recommended: Recommendations, categories: Mapping[int, Collection[str]], k: int
) -> float:
    """Mean over users (with two items or more in the top k) of the mean pairwise Jaccard
    distance of the items' category sets; an item without categories shares none."""
    per_user = []
    for items in recommended.values():
        top = [frozenset(categories.get(i, ())) for i in _top_unique(items, k)]
        if len(top) < 2:
            continue
        distances = [
            1.0 - (len(a & b) / len(a | b) if a | b else 0.0)
            for n, a in enumerate(top)
            for b in top[n + 1 :]
        ]
        per_user.append(float(np.mean(distances)))
    return float(np.mean(per_user)) if per_user else 0.0


def self_information(
    train: pd.DataFrame, table: EventTable | None = None
) -> tuple[dict[int, float], float]:
    """Item -> ``-log2 p(item)`` over ``train``'s positive events (module docstring), and the
    value of an item no train user touched."""
    _, positive = event_weights(train, table)
    pairs = train.loc[positive, [USER_ID, ITEM_ID]].drop_duplicates()
    users = int(train[USER_ID].nunique())
    counts = pairs.groupby(ITEM_ID)[USER_ID].size()
    information = -np.log2((counts.to_numpy(np.float64) + 1.0) / (users + 1.0))
    unknown = float(np.log2(users + 1.0))
    return dict(zip(counts.index.astype(int).tolist(), information.tolist(), strict=True)), unknown


def novelty(
    recommended: Recommendations, information: Mapping[int, float], k: int, unknown: float
) -> float:
    """Mean over users (with an item) of the mean self-information of their top-k items."""
    per_user = [
        float(np.mean([information.get(i, unknown) for i in top]))
        for top in (_top_unique(items, k) for items in recommended.values())
        if top
    ]
    return float(np.mean(per_user)) if per_user else 0.0


def item_categories(items: pd.DataFrame) -> dict[int, list[str]]:
    """Item -> its categories, from the catalog's pipe-joined column."""
    return {
        int(i): split_categories(c) for i, c in zip(items[ITEM_ID], items[CATEGORIES], strict=True)
    }


def list_metrics(
    recommended: Recommendations,
    categories: Mapping[int, Collection[str]],
    information: Mapping[int, float],
    unknown: float,
    ks: Iterable[int],
) -> dict[str, float]:
    """``diversity@k`` and ``novelty@k`` at every k."""
    results: dict[str, float] = {}
    for k in sorted(set(ks)):
        results[f"diversity@{k}"] = intra_list_diversity(recommended, categories, k)
        results[f"novelty@{k}"] = novelty(recommended, information, k, unknown)
    return results


def reranked_lists(
    scored: ScoredCandidates,
    vectors: Callable[[np.ndarray], np.ndarray] | None,
    categories: Mapping[int, Collection[str]],
    seen: Mapping[int, Collection[int]],
    k: int,
    *,
    mmr_lambda: float = MMR_LAMBDA,
    category_cap: int | None = CATEGORY_CAP,
) -> dict[int, list[int]]:
    """Each user's list as serving shows it: ``reranking.rerank`` (rules: already seen,
    duplicates; MMR over the item vectors with the per-primary-category cap) over the user's
    scored candidates, ``k`` deep. ``vectors``: item ids -> item vectors (the item tower's)."""
    from threadpoolctl import threadpool_limits

    # MMR's similarity matrices are small (candidates x candidates): a BLAS thread pool only
    # contends for the cores (70 ms vs 2.4 ms per 200 x 200 matrix on a loaded 2-core machine).
    with threadpool_limits(1, "blas"):
        return {
            int(user): _reranked(
                ids, scores, vectors, categories, seen.get(user, ()), k, mmr_lambda, category_cap
            )
            for user, (ids, scores) in scored.items()
        }


def _reranked(
    ids: np.ndarray,
    scores: np.ndarray,
    vectors: Callable[[np.ndarray], np.ndarray] | None,
    categories: Mapping[int, Collection[str]],
    seen: Collection[int],
    k: int,
    mmr_lambda: float,
    category_cap: int | None,
) -> list[int]:
    ids = np.asarray(ids, np.int64)
    primary = np.asarray(
        [primary_category(list(categories.get(int(i), ()))) for i in ids], dtype=object
    )
    picked = rerank(
        ids,
        np.asarray(scores, np.float64),
        k=k,
        vectors=vectors(ids) if vectors is not None and len(ids) else None,
        categories=primary,
        seen=np.fromiter(seen, np.int64),
        mmr_lambda=mmr_lambda,
        category_cap=category_cap,
    )
    return ids[picked.indices].tolist()


def vector_lookup(ids: np.ndarray, vectors: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Item ids -> rows of ``vectors`` (``ids`` the catalog's, e.g. the item tower's whole
    catalog); an id outside it gets a zero vector (similar to nothing)."""
    order = np.argsort(ids)
    ids, vectors = np.asarray(ids, np.int64)[order], np.asarray(vectors)[order]
    zero = np.zeros((1, vectors.shape[1]), vectors.dtype)

    def lookup(wanted: np.ndarray) -> np.ndarray:
        at = np.clip(np.searchsorted(ids, wanted), 0, max(len(ids) - 1, 0))
        found = (ids[at] == wanted) if len(ids) else np.zeros(len(wanted), bool)
        return np.where(found[:, None], vectors[at] if len(ids) else zero, zero)

    return lookup
