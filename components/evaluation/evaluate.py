"""One evaluator for baselines and models: recommendations in, named metrics out.

Protocol (docs/evaluation.md): rank the full catalog, excluding each user's train items; report
Recall@10, Recall@100, NDCG@10 and catalog coverage@10. An item is relevant to a user when the
user has a positive event on it in the test split (the event table: a skip, a short view or a
low rating is not relevant); users with a relevant item are the ones evaluated;
metric averaging rules are in :mod:`components.evaluation.metrics`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence, Set

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from components.data.columns import ITEM_ID, USER_ID
from components.data.events import EventTable, event_weights
from components.evaluation.baselines import BASELINES
from components.evaluation.metrics import (
    RANKING_METRICS,
    coverage_at_k,
    metric_key,
    recall_at_k,
)

DEFAULT_KS = (10, 100)
COLD_K = 100
COLD_RECALL = f"cold_recall@{COLD_K}"  # Recall@100 on items first seen in the test window


def _items_by_user(frame: pd.DataFrame) -> dict[int, set[int]]:
    for column in (USER_ID, ITEM_ID):
        if column not in frame.columns:
            raise ValueError(f"interactions lack the column {column!r}")
    if frame.empty:
        return {}
    users = frame[USER_ID].to_numpy(np.int64)
    items = frame[ITEM_ID].to_numpy(np.int64)
    order = np.argsort(users, kind="stable")
    users, items = users[order], items[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    groups = np.split(items, starts[1:])
    return {int(u): set(g.tolist()) for u, g in zip(users[starts], groups, strict=True)}


def relevant_items(test: pd.DataFrame, table: EventTable | None = None) -> dict[int, set[int]]:
    """User id -> held-out item ids with a positive event (binary relevance)."""
    _, positive = event_weights(test, table)
    return _items_by_user(test[positive])


def relevance_weights(
    test: pd.DataFrame, table: EventTable | None = None
) -> dict[int, dict[int, float]]:
    """User id -> {relevant item id: the weight of its strongest positive event}: graded
    relevance, e.g. the ranker's labels."""
    weight, positive = event_weights(test, table)
    frame = pd.DataFrame(
        {
            USER_ID: test[USER_ID].to_numpy(np.int64)[positive],
            ITEM_ID: test[ITEM_ID].to_numpy(np.int64)[positive],
            "weight": weight[positive],
        }
    )
    strongest = frame.groupby([USER_ID, ITEM_ID])["weight"].max()
    graded: dict[int, dict[int, float]] = {}
    for (user, item), w in strongest.items():
        graded.setdefault(int(user), {})[int(item)] = float(w)
    return graded


def seen_items(train: pd.DataFrame) -> dict[int, set[int]]:
    """User id -> item ids seen in train; the protocol excludes them from every ranking."""
    return _items_by_user(train)


def evaluate_recommendations(
    recommended: Mapping[int, Sequence[int]],
    test: pd.DataFrame,
    catalog_size: int,
    ks: Iterable[int] = DEFAULT_KS,
) -> dict[str, float]:
    """Every metric at every k, keyed ``"<metric>@<k>"`` (recall, precision, ndcg, hit_rate,
    coverage).

    ``recommended`` should hold a list for every test user with a relevant item; a missing
    user scores 0. Coverage counts all lists in ``recommended``; pass only the test users' lists
    to follow the protocol.
    """
    relevant = relevant_items(test)
    results: dict[str, float] = {}
    for k in sorted(set(ks)):
        for name, metric in RANKING_METRICS.items():
            results[metric_key(name, k)] = float(metric(recommended, relevant, k))
        results[metric_key("coverage", k)] = float(coverage_at_k(recommended, catalog_size, k))
    return results


def cold_relevant_items(train: pd.DataFrame, test: pd.DataFrame) -> dict[int, set[int]]:
    """User id -> relevant test items that have no event at all in ``train`` (first seen in the
    test window: a model can only find them from content); users without one are left out."""
    known = set(train[ITEM_ID].to_numpy(np.int64).tolist())
    cold = {u: items - known for u, items in relevant_items(test).items()}
    return {u: items for u, items in cold.items() if items}


def cold_item_recall(
    recommended: Mapping[int, Sequence[int]],
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int = COLD_K,
) -> float:
    """Recall@k restricted to cold items (``cold_relevant_items``), averaged over the users who
    have one; 0 when no test item is cold."""
    cold = cold_relevant_items(train, test)
    return float(recall_at_k(recommended, cold, k)) if cold else 0.0


def evaluate_baselines(
    train: pd.DataFrame,
    test: pd.DataFrame,
    catalog_size: int,
    k: int = 100,
    progress: bool = True,
    systems: Sequence[str] = tuple(BASELINES),
    catalog: Iterable[int] | None = None,
    seed: int = 0,
    on_timing: Callable[[str, float, float], None] | None = None,
    on_recommended: Callable[[str, Mapping[int, Sequence[int]]], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Fit each baseline on ``train``, recommend ``k`` unseen items to every test user, score.

    Returns system name -> metrics (see :func:`evaluate_recommendations`, at ``DEFAULT_KS`` and
    ``k``).
    ``catalog`` restricts what may be recommended (default: every item in train). ``on_timing``
    receives (system, fit seconds, recommend seconds), for logging or run metadata;
    ``on_recommended`` (system, its lists), e.g. for the report's Recall@K curve.
    """
    unknown = [name for name in systems if name not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; known: {sorted(BASELINES)}")
    catalog = None if catalog is None else list(catalog)
    exclude: dict[int, Set[int]] = dict(seen_items(train))
    users = sorted(relevant_items(test))
    results: dict[str, dict[str, float]] = {}
    bar = tqdm(systems, desc="baselines", disable=not progress)
    for name in bar:
        bar.set_postfix_str(name)
        options = {"seed": seed} if name == "als" else {}
        model = BASELINES[name](catalog=catalog, **options)
        start = time.perf_counter()
        model.fit(train)
        fitted = time.perf_counter()
        recommended = model.recommend(users, k, exclude)
        done = time.perf_counter()
        if on_timing is not None:
            on_timing(name, fitted - start, done - fitted)
        if on_recommended is not None:
            on_recommended(name, recommended)
        results[name] = evaluate_recommendations(
            recommended, test, catalog_size, ks=sorted({*DEFAULT_KS, k})
        )
    return results
