"""One request through Retrieval and Ranking, on models and services already loaded.

The replicas (``serving.runtime``) hold the loaded towers, rankers, index search and online
store and call these functions with them; a test calls them with fakes. A collaborator that is
missing (``None``) or fails becomes a recorded fallback, never a failed request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from components.features.columns import USER_RECENT_ITEMS
from components.features.store import FOUND, online_features
from components.recommend.candidates import (
    FALLBACK_ONLINE_STORE,
    FALLBACK_RANKER,
    FALLBACK_RETRIEVAL_MODEL,
    FALLBACK_TABLES,
    CandidatePool,
    Query,
    SearchFn,
    retrieve_candidates,
    similar_candidates,
)
from components.recommend.models import Loaded
from components.recommend.scoring import online_availability, score_candidates
from components.recommend.sources import CandidateSources

log = logging.getLogger(__name__)

DEFAULT_HISTORY_LENGTH = 50  # without a tower, the history only feeds co-visitation

# (user ids, item ids) -> (user rows, item rows), as ``features.store.online_features``
ReadFeatures = Callable[[Sequence[int], Sequence[int]], tuple[pd.DataFrame, pd.DataFrame]]


def store_reader(store: Any | None) -> ReadFeatures | None:
    """Online reads from a Feast store; None when there is no store."""
    return None if store is None else partial(online_features, store)


@dataclass
class History:
    items: np.ndarray  # most recent first, at most the tower's history length
    seen: np.ndarray  # everything the user is known to have seen
    user_features: pd.DataFrame | None  # the user's online feature row
    fallbacks: list[str]


def user_history(
    user_id: int,
    history_length: int,
    sources: CandidateSources,
    read_features: ReadFeatures | None,
) -> History:
    """The online store's ``user_recent_items`` is the history when the store knows the user:
    ``two_tower.history.recent_positive_items`` over their events, the history training
    feeds the tower (negatives excluded). The serving tables' seen items stand in when the
    store is down or has no row for the user."""
    fallbacks: list[str] = []
    recent: list[int] = []
    found = False
    frame = None
    if read_features is None:
        fallbacks.append(FALLBACK_ONLINE_STORE)
    else:
        try:
            frame, _ = read_features([user_id], [])
            found = bool(frame[FOUND].iloc[0])
            if found:
                recent = [int(i) for i in (frame[USER_RECENT_ITEMS].iloc[0] or [])]
        except Exception as error:  # noqa: BLE001
            log.warning("online store read failed for user %s: %s", user_id, error)
            fallbacks.append(FALLBACK_ONLINE_STORE)
            frame = None
            found = False
    seen_before = sources.seen_items(user_id)
    history = np.asarray(recent if found else seen_before, dtype=np.int64)
    seen = np.union1d(history, seen_before)
    return History(history[:history_length], seen, frame, fallbacks)


def recommend_candidates(
    query: Query,
    sources: CandidateSources,
    *,
    tower: Loaded | None,
    search: SearchFn | None,
    read_features: ReadFeatures | None,
    tables_degraded: bool = False,
    recently_seen: np.ndarray | None = None,
    n_ann: int = 200,
    n_covisit: int = 50,
    n_popular: int = 50,
) -> CandidatePool:
    """The Retrieval request: history, user vector, ANN + co-visitation + popularity.

    ``tower``: a loaded ``components.recommend.tower.Tower``; ``recently_seen``: items from
    feedback newer than the tables (``EventTail``)."""
    started = time.perf_counter()
    model = tower.model.model if tower is not None else None
    history_length = model.history_length if model is not None else DEFAULT_HISTORY_LENGTH
    history = user_history(query.user_id, history_length, sources, read_features)
    seen = history.seen
    if recently_seen is not None and len(recently_seen):
        seen = np.union1d(seen, recently_seen)
    user_vector = None
    if model is not None and len(history.items):
        user_vector = model.user_embeddings([query.user_id], [history.items.tolist()])[0]
    pool = retrieve_candidates(
        query,
        sources,
        history=history.items,
        seen=seen,
        user_vector=user_vector,
        embed_items=tower.model.vectors if tower is not None else None,
        search=search,
        n_ann=n_ann,
        n_covisit=n_covisit,
        n_popular=n_popular,
    )
    pool.user_features = history.user_features
    for reason in history.fallbacks:
        pool.degrade(reason)
    if tables_degraded:
        pool.degrade(FALLBACK_TABLES)
    if tower is None:
        pool.degrade(FALLBACK_RETRIEVAL_MODEL)
    else:
        _record_version(pool, tower)
    pool.timings["Retrieval"] = time.perf_counter() - started
    return pool


def rank_pool(
    pool: CandidatePool, ranker: Loaded | None, read_features: ReadFeatures | None
) -> CandidatePool:
    """The Ranking request: one online read for the candidates (and the user, if retrieval
    could not read it), then the ranker over ``ranker_feature_frame``; without a ranker the
    retrieval order stands (degraded)."""
    started = time.perf_counter()
    item_frame = None
    if read_features is None:
        pool.degrade(FALLBACK_ONLINE_STORE)
    elif len(pool):
        try:
            users = [pool.user_id] if pool.user_features is None else []
            user_frame, item_frame = read_features(users, pool.item_ids.tolist())
            if users:
                pool.user_features = user_frame
        except Exception as error:  # noqa: BLE001
            log.warning("online store read failed for %d items: %s", len(pool), error)
            pool.degrade(FALLBACK_ONLINE_STORE)
            item_frame = None
    pool.scores = score_candidates(
        pool, ranker.model if ranker is not None else None, pool.user_features, item_frame
    )
    pool.available = online_availability(pool, item_frame)
    if ranker is None:
        pool.degrade(FALLBACK_RANKER)
    else:
        _record_version(pool, ranker)
    pool.user_features = None  # not needed downstream: keep the next hop's payload small
    pool.timings["Ranking"] = time.perf_counter() - started
    return pool


def _record_version(pool: CandidatePool, loaded: Loaded) -> None:
    pool.versions[loaded.ref.name] = loaded.ref.version
    pool.loaded_at[loaded.ref.name] = loaded.loaded_at


@dataclass
class Similar:
    item_id: int
    items: list[tuple[int, float, str]]  # (id, score, title)
    fallbacks: list[str]
    versions: dict[str, str]


def similar_items(
    item_id: int,
    k: int,
    sources: CandidateSources,
    *,
    tower: Loaded | None,
    search: SearchFn | None,
    tables_degraded: bool = False,
) -> Similar | None:
    """Nearest items to a catalog item; None when the catalog does not know it."""
    if not bool(sources.catalog.contains([item_id])[0]):
        return None
    found, fallbacks = similar_candidates(
        item_id,
        k,
        sources,
        embed_items=tower.model.vectors if tower is not None else None,
        search=search,
    )
    if tables_degraded:
        fallbacks.append(FALLBACK_TABLES)
    titles = sources.catalog.titles_of(found.ids)
    return Similar(
        item_id=int(item_id),
        items=[
            (int(i), float(s), t) for i, s, t in zip(found.ids, found.scores, titles, strict=True)
        ],
        fallbacks=fallbacks,
        versions={tower.ref.name: tower.ref.version} if tower is not None else {},
    )


def known_items(sources: CandidateSources, item_ids: Sequence[int]) -> list[int]:
    """The ids the catalog knows, in the order given."""
    ids = np.asarray(item_ids, dtype=np.int64)
    return ids[sources.catalog.contains(ids)].tolist()
