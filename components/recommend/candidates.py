"""Candidate generation for one request: ANN over the user tower, co-visitation and popularity,
merged into one pool that the ranker scores and the re-ranker trims.

The item tower and the index come in as callables (``embed_items``, ``search``), so the same
code runs in a Ray replica, in a test with fakes, or in a notebook. A callable that raises
(Milvus down) or is missing (no model) becomes a recorded fallback, and the popularity source
always fills the pool, so a request never fails for want of a service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from components.recommend.sources import CandidateSources, Scored

log = logging.getLogger(__name__)

SOURCE_ANN = "ann"
SOURCE_COVISIT = "covisit"
SOURCE_POPULAR = "popular"
# The anchor of a candidate no history item brought in. Compared by equality: item ids may be
# negative (string ids hash below -2**62, components.data.item_ids), never -1.
NO_ANCHOR = -1

# Reasons a response is degraded (label values of reco_fallbacks_total{reason}).
FALLBACK_MILVUS = "milvus"
FALLBACK_ONLINE_STORE = "online_store"
FALLBACK_RETRIEVAL_MODEL = "retrieval_model"
FALLBACK_RANKER = "ranker"
FALLBACK_TABLES = "serving_tables"

# What ordered a response: the ranker, or retrieval (the ranker down, which is a fallback, or a
# ranker version that validation switched off, which is not: it is the better order on record).
RANKED_BY_RANKER = "ranker"
RANKED_BY_RETRIEVAL = "retrieval"

CONTEXT_CATEGORY = "category"  # a context key that narrows popularity like ``categories``

# (query vectors (n, d), k, categories or None, ids to exclude per query) -> per query
# [(id, score)]: one call answers several requests (``request.recommend_candidates_batch``)
Hits = list[list[tuple[int, float]]]
SearchFn = Callable[[np.ndarray, int, Sequence[str] | None, Sequence[set[int]]], Hits]
EmbedItemsFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Query:
    """What a client asked for, already validated."""

    user_id: int
    k: int = 10
    categories: tuple[str, ...] = ()
    exclude: tuple[int, ...] = ()
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def popularity_categories(self) -> tuple[str, ...]:
        """Categories for the popularity source: the request's, else a context ``category``."""
        if self.categories:
            return self.categories
        hint = self.context.get(CONTEXT_CATEGORY)
        return (str(hint),) if isinstance(hint, str) and hint else ()


@dataclass
class CandidatePool:
    """Candidates of one request as aligned arrays, filled in stage by stage."""

    user_id: int
    item_ids: np.ndarray
    retrieval_scores: np.ndarray
    retrieval_ranks: np.ndarray
    sources: np.ndarray  # SOURCE_* per candidate
    anchors: np.ndarray  # history item behind the candidate, -1 = none
    vectors: np.ndarray | None  # item tower vectors (n, d), L2-normalised; None without a model
    history: np.ndarray  # the user's items, most recent first
    seen: np.ndarray  # every item the user is known to have seen
    cold_start: bool
    available: np.ndarray
    primary_categories: np.ndarray
    allowed: np.ndarray  # in the requested categories (all True when none requested)
    covisit_scores: np.ndarray | None = None  # the ranker's covisit_score per candidate
    item_categories: list[list[str]] = field(default_factory=list)
    titles: dict[int, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)  # anchors' string ids (reasons name them)
    user_features: pd.DataFrame | None = None
    scores: np.ndarray | None = None  # ranker scores, set by the ranking stage
    actions: np.ndarray | None = None  # the ranker's dominant action per candidate ("" none)
    ranked_by: str = RANKED_BY_RETRIEVAL  # RANKED_BY_RANKER once an enabled ranker scored it
    fallbacks: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)  # model name -> version
    loaded_at: dict[str, float] = field(default_factory=dict)  # model name -> unix time
    timings: dict[str, float] = field(default_factory=dict)  # deployment -> seconds
    stages: dict[str, float] = field(default_factory=dict)  # STAGE_* inside one -> seconds

    def __len__(self) -> int:
        return len(self.item_ids)

    def retrieval_order(self) -> np.ndarray:
        """Retrieval's order as scores (higher = better): minus the rank, the first 0.0 (never
        -0.0, which an answer's JSON would print as such)."""
        return 0.0 - self.retrieval_ranks.astype(np.float64)

    def degrade(self, reason: str) -> None:
        if reason not in self.fallbacks:
            self.fallbacks.append(reason)


def merge_sources(
    parts: Sequence[tuple[str, Scored]], limit: int | None = None
) -> tuple[Scored, np.ndarray]:
    """Concatenate sources in priority order, keeping each item's first occurrence; returns the
    merged candidates and the source label of each."""
    if not parts:
        return Scored.empty(), np.zeros(0, dtype=object)
    all_ids = np.concatenate([p.ids for _, p in parts]).astype(np.int64)
    labels = np.concatenate([np.full(len(p), label, dtype=object) for label, p in parts])
    _, first = np.unique(all_ids, return_index=True)
    keep = np.sort(first)[:limit]
    merged = Scored(
        all_ids[keep],
        np.concatenate([p.scores for _, p in parts]).astype(np.float64)[keep],
        np.concatenate([p.anchors for _, p in parts]).astype(np.int64)[keep],
    )
    return merged, labels[keep]


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def best_anchors(
    candidate_vectors: np.ndarray, history: np.ndarray, history_vectors: np.ndarray
) -> np.ndarray:
    """For each candidate, the history item most similar to it (-1 without a history)."""
    if not len(history) or not len(candidate_vectors):
        return np.full(len(candidate_vectors), -1, dtype=np.int64)
    similarity = _normalise(candidate_vectors) @ _normalise(history_vectors).T
    return np.asarray(history, dtype=np.int64)[similarity.argmax(axis=1)]


def excluded_ids(
    query: Query, history: Sequence[int] | np.ndarray, seen: Sequence[int] | np.ndarray
) -> np.ndarray:
    """Items a request must not get back: the history, everything seen, the request's
    ``exclude`` (sorted, unique)."""
    return np.union1d(
        np.union1d(np.asarray(seen, dtype=np.int64), np.asarray(history, dtype=np.int64)),
        np.asarray(query.exclude, dtype=np.int64),
    )


def retrieve_candidates(
    query: Query,
    sources: CandidateSources,
    *,
    history: Sequence[int] | np.ndarray,
    seen: Sequence[int] | np.ndarray,
    user_vector: np.ndarray | None,
    embed_items: EmbedItemsFn | None,
    search: SearchFn | None,
    n_ann: int = 200,
    n_covisit: int = 50,
    n_popular: int = 50,
) -> CandidatePool:
    """The merged pool for one user.

    - no history: popularity within the requested categories (or context ``category``);
    - otherwise: ANN top-``n_ann`` of the user vector (seen and excluded items skipped, in the
      requested categories, available only), then co-visitation of the history, then popularity;
    - popularity is always added (at least ``2 k`` eligible items), so re-ranking can fill ``k``
      whenever the catalog has eligible items, even with Milvus or the model gone.

    ``retrieval_scores`` are the two-tower dot products (what the ranker was trained on) when a
    user vector exists, else 0; ``retrieval_ranks`` order candidates by them (0 = best), or keep
    the merged order (ANN, co-visitation, popularity) without a user vector.
    """
    history = np.asarray(history, dtype=np.int64).reshape(-1)
    seen_ids = np.union1d(np.asarray(seen, dtype=np.int64).reshape(-1), history)
    excluded = excluded_ids(query, history, seen_ids)
    excluded_set = {int(i) for i in excluded}
    cold = len(history) == 0
    fallbacks: list[str] = []
    parts: list[tuple[str, Scored]] = []
    categories = list(query.categories) or None

    if not cold:
        if user_vector is None:
            fallbacks.append(FALLBACK_RETRIEVAL_MODEL)
        elif search is None:
            fallbacks.append(FALLBACK_MILVUS)
        else:
            try:
                hits = search(user_vector.reshape(1, -1), n_ann, categories, [excluded_set])[0]
                parts.append(
                    (
                        SOURCE_ANN,
                        Scored(
                            np.asarray([h[0] for h in hits], dtype=np.int64),
                            np.asarray([h[1] for h in hits], dtype=np.float64),
                            np.full(len(hits), -1, dtype=np.int64),
                        ),
                    )
                )
            except Exception as error:  # noqa: BLE001 - any index failure degrades, never fails
                log.warning("ANN search failed, falling back to other sources: %s", error)
                fallbacks.append(FALLBACK_MILVUS)
        covisited = sources.covisited(history, n_covisit, exclude=excluded)
        if categories and len(covisited):
            keep = sources.catalog.in_categories(covisited.ids, categories)
            covisited = Scored(covisited.ids[keep], covisited.scores[keep], covisited.anchors[keep])
        parts.append((SOURCE_COVISIT, covisited))
    popular = sources.popular(
        max(n_popular, 2 * query.k), query.popularity_categories or None, exclude=excluded
    )
    if not len(popular) and query.popularity_categories and not categories:
        popular = sources.popular(max(n_popular, 2 * query.k), None, exclude=excluded)
    parts.append((SOURCE_POPULAR, popular))
    merged, labels = merge_sources(parts)
    ids = merged.ids

    vectors = None
    anchors = merged.anchors.copy()
    scores = merged.scores.astype(np.float64)
    if embed_items is not None and len(ids):
        recent = history[:20]
        both = np.asarray(embed_items(np.concatenate([ids, recent])), dtype=np.float32)
        vectors = _normalise(both[: len(ids)])
        if user_vector is not None and not cold:
            scores = vectors @ _normalise(user_vector.reshape(1, -1)).reshape(-1)
        need = (labels == SOURCE_ANN) & (anchors == NO_ANCHOR)
        if need.any() and len(recent):
            anchors[need] = best_anchors(vectors[need], recent, both[len(ids) :])
    if user_vector is None or cold:
        # No comparable score across sources: keep the merged order (ANN, co-vis, popular).
        scores = -np.arange(len(ids), dtype=np.float64)
    ranks = np.empty(len(ids), dtype=np.float64)
    ranks[np.argsort(-scores, kind="stable")] = np.arange(len(ids), dtype=np.float64)

    catalog = sources.catalog
    allowed = catalog.in_categories(ids, categories)
    titles = dict(zip(ids.tolist(), catalog.titles_of(ids), strict=True))
    known_anchors = anchors[anchors != NO_ANCHOR]
    titles.update(zip(known_anchors.tolist(), catalog.titles_of(known_anchors), strict=True))
    names = {a: catalog.names[a] for a in set(known_anchors.tolist()) if a in catalog.names}
    return CandidatePool(
        user_id=int(query.user_id),
        item_ids=ids,
        retrieval_scores=scores if user_vector is not None and not cold else np.zeros(len(ids)),
        retrieval_ranks=ranks,
        sources=labels,
        anchors=anchors,
        vectors=vectors,
        history=history,
        seen=seen_ids,
        cold_start=cold,
        available=catalog.is_available(ids),
        primary_categories=catalog.primary_categories(ids),
        allowed=allowed,
        covisit_scores=sources.covisit_scores(history, ids),
        item_categories=catalog.categories_of(ids),
        titles=titles,
        names=names,
        fallbacks=fallbacks,
    )


def similar_candidates(
    item_id: int,
    k: int,
    sources: CandidateSources,
    *,
    embed_items: EmbedItemsFn | None,
    search: SearchFn | None,
) -> tuple[Scored, list[str]]:
    """Nearest available items to ``item_id`` by the item tower in Milvus; with the index or the
    model unavailable, co-visitation neighbours then popular items of its primary category."""
    fallbacks: list[str] = []
    if embed_items is None:
        fallbacks.append(FALLBACK_RETRIEVAL_MODEL)
    elif search is None:
        fallbacks.append(FALLBACK_MILVUS)
    else:
        try:
            vector = np.asarray(embed_items(np.asarray([item_id], dtype=np.int64)))
            hits = search(vector.reshape(1, -1), k, None, [{int(item_id)}])[0]
            return (
                Scored(
                    np.asarray([h[0] for h in hits], dtype=np.int64),
                    np.asarray([h[1] for h in hits], dtype=np.float64),
                    np.full(len(hits), int(item_id), dtype=np.int64),
                ),
                fallbacks,
            )
        except Exception as error:  # noqa: BLE001
            log.warning("similar-items search failed, falling back: %s", error)
            fallbacks.append(FALLBACK_MILVUS)
    own = [int(item_id)]
    covisited = sources.covisited(own, k, exclude=own)
    primary = [c for c in sources.catalog.primary_categories(own) if c]
    popular = sources.popular(k, primary or None, exclude=own)
    merged, _ = merge_sources([(SOURCE_COVISIT, covisited), (SOURCE_POPULAR, popular)], limit=k)
    return merged, fallbacks
