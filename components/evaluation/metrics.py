"""Top-k ranking metrics as pure functions with one signature.

Every ranking metric takes ``recommended`` (user id -> ranked item ids), ``relevant`` (user id ->
set of held-out item ids) and ``k``, and returns the mean over the users that have relevant items.
Users without relevant items are skipped (they carry no signal and would pull every system towards
0 alike); users with relevant items but no recommendations count as 0 (a system that returns
nothing for a user must not look better for it). Relevance is binary: implicit feedback.

An item repeated in one list counts once (its first position), so duplicates never inflate a score.
With no evaluable user at all the result is 0.0, which a promotion gate reads as "not better".

``METRICS`` maps a name to its function, so results serialise as ``"<name>@<k>"``.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from typing import Any, TypeVar

Recommendations = Mapping[int, Sequence[int]]
Relevance = Mapping[int, Set[int]]

F = TypeVar("F", bound=Callable[..., float])


def _positive_int(value: Any, name: str, where: str) -> int:
    """``value`` as an int >= 1, else a ValueError naming the argument and the function."""
    if not isinstance(value, bool):
        try:
            number = operator.index(value)
        except TypeError:
            number = 0
        if number >= 1:
            return number
    raise ValueError(f"{where}: {name} must be an integer >= 1, got {value!r}")


def _checked_k(func: F) -> F:
    """Refuse a k that is not a positive integer, with a message that names the metric."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> float:
        _positive_int(kwargs["k"] if "k" in kwargs else args[-1], "k", func.__name__)
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _top_k_unique(items: Iterable[int], k: int) -> list[int]:
    """The first k positions of a list, keeping only the first occurrence of each item."""
    seen: set[int] = set()
    out: list[int] = []
    for position, item in enumerate(items):
        if position >= k:
            break
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _top_k_positions(items: Sequence[int], k: int) -> list[tuple[int, int]]:
    """(position, item) for the first occurrence of each item within the first k positions."""
    seen: set[int] = set()
    out: list[tuple[int, int]] = []
    for position, item in enumerate(items[:k]):
        if item not in seen:
            seen.add(item)
            out.append((position, item))
    return out


def _mean_over_users(
    recommended: Recommendations,
    relevant: Relevance,
    per_user: Callable[[Sequence[int], Set[int]], float],
) -> float:
    total, users = 0.0, 0
    for user, items in relevant.items():
        if not items:
            continue
        users += 1
        total += per_user(recommended.get(user, ()), items)
    return total / users if users else 0.0


@_checked_k
def recall_at_k(recommended: Recommendations, relevant: Relevance, k: int) -> float:
    """Mean of |top-k ∩ relevant| / |relevant|.

    The standard definition, so a user with more held-out items than k cannot reach 1.0; this
    keeps Recall@10 comparable with the published figures that use it.
    """
    return _mean_over_users(
        recommended,
        relevant,
        lambda recs, rel: len(rel.intersection(_top_k_unique(recs, k))) / len(rel),
    )


@_checked_k
def precision_at_k(recommended: Recommendations, relevant: Relevance, k: int) -> float:
    """Mean of |top-k ∩ relevant| / k (k, not the list length: a short list is not rewarded)."""
    return _mean_over_users(
        recommended,
        relevant,
        lambda recs, rel: len(rel.intersection(_top_k_unique(recs, k))) / k,
    )


@_checked_k
def hit_rate_at_k(recommended: Recommendations, relevant: Relevance, k: int) -> float:
    """Share of users with at least one relevant item in their top k."""
    return _mean_over_users(
        recommended,
        relevant,
        lambda recs, rel: 1.0 if rel.intersection(recs[:k]) else 0.0,
    )


def _discount(position: int) -> float:
    return 1.0 / math.log2(position + 2)


@_checked_k
def ndcg_at_k(recommended: Recommendations, relevant: Relevance, k: int) -> float:
    """Mean NDCG@k with binary relevance.

    DCG = sum over hits at 0-based position p of 1 / log2(p + 2); the ideal DCG puts
    min(k, |relevant|) hits at the top, so a perfect ranking scores exactly 1.0.
    """

    def per_user(recs: Sequence[int], rel: Set[int]) -> float:
        dcg = sum(_discount(p) for p, item in _top_k_positions(recs, k) if item in rel)
        ideal = sum(_discount(p) for p in range(min(k, len(rel))))
        return dcg / ideal

    return _mean_over_users(recommended, relevant, per_user)


def paired_gain(
    baseline: Recommendations,
    candidate: Recommendations,
    relevant: Relevance,
    k: int,
    metric: Callable[[Recommendations, Relevance, int], float] = ndcg_at_k,
) -> tuple[float, float]:
    """Mean per-user gain of ``candidate`` over ``baseline`` on ``metric`` and its standard
    error: whether a difference between two orders of the same users is more than noise."""
    gains = [
        metric({user: candidate.get(user, ())}, {user: items}, k)
        - metric({user: baseline.get(user, ())}, {user: items}, k)
        for user, items in relevant.items()
        if items
    ]
    if len(gains) < 2:
        return (gains[0] if gains else 0.0), math.inf
    mean = sum(gains) / len(gains)
    variance = sum((g - mean) ** 2 for g in gains) / (len(gains) - 1)
    return mean, math.sqrt(variance / len(gains))


@_checked_k
def coverage_at_k(recommended: Recommendations, catalog_size: int, k: int) -> float:
    """Distinct items across every user's top k, divided by the catalog size.

    Counts all users in ``recommended`` (not only those with relevant items): it measures how much
    of the catalog a system ever shows. ``catalog_size`` should count every item that could be
    recommended, so the value stays in [0, 1].
    """
    catalog_size = _positive_int(catalog_size, "catalog_size", "coverage_at_k")
    shown: set[int] = set()
    for items in recommended.values():
        shown.update(items[:k])
    return len(shown) / catalog_size


RANKING_METRICS: dict[str, Callable[[Recommendations, Relevance, int], float]] = {
    "recall": recall_at_k,
    "precision": precision_at_k,
    "ndcg": ndcg_at_k,
    "hit_rate": hit_rate_at_k,
}
"""Metrics of the shape ``f(recommended, relevant, k)``."""

METRICS: dict[str, Callable[..., float]] = {**RANKING_METRICS, "coverage": coverage_at_k}
"""Every metric by the name used in result keys (``"recall@10"``); coverage takes catalog_size."""


def metric_key(name: str, k: int) -> str:
    """The result key for a metric at a cut-off, e.g. ``metric_key("ndcg", 10) == "ndcg@10"``."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; known: {sorted(METRICS)}")
    return f"{name}@{k}"
