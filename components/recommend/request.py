"""One request through Retrieval and Ranking, on models and services already loaded.

The replicas (``serving.runtime``) hold the loaded towers, rankers, index search and online
store and call these functions with them; a test calls them with fakes. A collaborator that is
missing (``None``) or fails becomes a recorded fallback, never a failed request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from components.features.columns import USER_RECENT_ITEMS
from components.features.store import FOUND, online_features
from components.recommend.cache import BoundedCache
from components.recommend.candidates import (
    FALLBACK_ONLINE_STORE,
    FALLBACK_RANKER,
    FALLBACK_RETRIEVAL_MODEL,
    FALLBACK_TABLES,
    RANKED_BY_RANKER,
    CandidatePool,
    Hits,
    Query,
    SearchFn,
    excluded_ids,
    retrieve_candidates,
    similar_candidates,
)
from components.recommend.models import Loaded
from components.recommend.scoring import (
    ItemMatrix,
    online_availability,
    score_candidates,
    score_matrix,
)
from components.recommend.sources import CandidateSources

log = logging.getLogger(__name__)

DEFAULT_HISTORY_LENGTH = 50  # without a tower, the history only feeds co-visitation

# Stages of the Retrieval call, timed per batch (``CandidatePool.stages``, exported as
# ``reco_stage_latency_seconds{stage}``): query hydration (user rows and history), the user
# tower, the item search, then per request the other sources, the merge and candidate hydration.
STAGE_USER_ROWS = "retrieval_user_rows"
STAGE_TOWER = "retrieval_tower"
STAGE_SEARCH = "retrieval_search"
STAGE_SOURCES = "retrieval_sources_merge"
STAGES = (STAGE_USER_ROWS, STAGE_TOWER, STAGE_SEARCH, STAGE_SOURCES)

# (user ids, item ids) -> (user rows, item rows), as ``features.store.online_features``
ReadFeatures = Callable[[Sequence[int], Sequence[int]], tuple[pd.DataFrame, pd.DataFrame]]
# (item ids, read for ids not held) -> item rows, as ``item_features.ItemFeatures.rows``
ItemRows = Callable[[np.ndarray, ReadFeatures | None], pd.DataFrame]


def store_reader(store: Any | None) -> ReadFeatures | None:
    """Online reads from a Feast store; None when there is no store."""
    return None if store is None else partial(online_features, store)


def cached_user_reads(read: ReadFeatures | None, users: BoundedCache) -> ReadFeatures | None:
    """``read`` with each user's row (reads without items) kept in ``users`` for its TTL: a
    request reads its user once, a burst of requests by the same user reads once, a batch of
    requests reads the users not kept in one call. Reads of items pass."""
    if read is None:
        return None

    def read_cached(
        user_ids: Sequence[int], item_ids: Sequence[int]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        if len(item_ids) or not len(user_ids):
            return read(user_ids, item_ids)
        keys = list(dict.fromkeys(int(u) for u in user_ids))
        held = {key: users.get(key) for key in keys}
        missing = [key for key, frames in held.items() if frames is None]
        if missing:
            frame, items = read(missing, [])
            for key in missing:  # one user read: the frame is that user's row already
                held[key] = (frame if len(missing) == 1 else frame.loc[[key]], items)
                users.put(key, held[key])
        if len(keys) == 1:
            return held[keys[0]]
        return pd.concat([held[key][0] for key in keys]), held[keys[0]][1]

    return read_cached


def _users_read_once(read: ReadFeatures | None, user_ids: Sequence[int]) -> ReadFeatures | None:
    """``read`` for a batch: its users' rows read in ONE call up front, each request's own
    read answered from it (a failed read fails each request's, as it would alone)."""
    wanted = list(dict.fromkeys(int(u) for u in user_ids))
    if read is None or len(wanted) < 2:
        return read
    try:
        frame: pd.DataFrame | None = read(wanted, [])[0]
        error: Exception | None = None
    except Exception as failed:  # noqa: BLE001 - each request records its own fallback
        frame, error = None, failed

    def answer(users: Sequence[int], items: Sequence[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
        if len(items) or len(users) != 1 or int(users[0]) not in wanted:
            return read(users, items)
        if error is not None:
            raise error
        return frame.loc[[int(users[0])]], pd.DataFrame()  # type: ignore[union-attr]

    return answer


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
    feeds the tower (negatives excluded). The serving tables' positive items stand in when the
    store is down or has no row for the user (a skip is seen, never history)."""
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
    history = np.asarray(recent if found else sources.positive_items(user_id), dtype=np.int64)
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
    return recommend_candidates_batch(
        [query],
        sources,
        tower=tower,
        search=search,
        read_features=read_features,
        tables_degraded=tables_degraded,
        recently_seen=[recently_seen],
        n_ann=n_ann,
        n_covisit=n_covisit,
        n_popular=n_popular,
    )[0]


def recommend_candidates_batch(
    queries: Sequence[Query],
    sources: CandidateSources,
    *,
    tower: Loaded | None,
    search: SearchFn | None,
    read_features: ReadFeatures | None,
    tables_degraded: bool = False,
    recently_seen: Sequence[np.ndarray | None] | None = None,
    n_ann: int = 200,
    n_covisit: int = 50,
    n_popular: int = 50,
) -> list[CandidatePool]:
    """``recommend_candidates`` for several requests (in order, one pool each), sharing one
    tower forward for every user with a history and one index search per distinct category
    filter, and one online read of the users' rows: a Milvus call, a forward pass and a Feast
    read cost nearly the same for one query as for many.

    ``recently_seen[i]``: feedback items newer than the tables for ``queries[i]``."""
    started = time.perf_counter()
    model = tower.model.model if tower is not None else None
    history_length = model.history_length if model is not None else DEFAULT_HISTORY_LENGTH
    recent = list(recently_seen) if recently_seen is not None else [None] * len(queries)
    read_users = _users_read_once(read_features, [q.user_id for q in queries])
    histories = [user_history(q.user_id, history_length, sources, read_users) for q in queries]
    stages = {STAGE_USER_ROWS: time.perf_counter() - started}
    mark = time.perf_counter()
    seens = [
        np.union1d(h.seen, r) if r is not None and len(r) else h.seen
        for h, r in zip(histories, recent, strict=True)
    ]
    vectors: list[np.ndarray | None] = [None] * len(queries)
    known = [i for i, h in enumerate(histories) if len(h.items)]
    if model is not None and known:
        embedded = model.user_embeddings(
            [queries[i].user_id for i in known], [histories[i].items.tolist() for i in known]
        )
        for row, i in enumerate(known):
            vectors[i] = embedded[row]
    stages[STAGE_TOWER], mark = time.perf_counter() - mark, time.perf_counter()
    answers = _search_together(queries, histories, seens, vectors, search, n_ann)
    stages[STAGE_SEARCH], mark = time.perf_counter() - mark, time.perf_counter()
    pools = []
    for i, query in enumerate(queries):
        pool = retrieve_candidates(
            query,
            sources,
            history=histories[i].items,
            seen=seens[i],
            user_vector=vectors[i],
            embed_items=tower.model.vectors if tower is not None else None,
            search=answers.get(i),
            n_ann=n_ann,
            n_covisit=n_covisit,
            n_popular=n_popular,
        )
        pool.user_features = histories[i].user_features
        for reason in histories[i].fallbacks:
            pool.degrade(reason)
        if tables_degraded:
            pool.degrade(FALLBACK_TABLES)
        if tower is None:
            pool.degrade(FALLBACK_RETRIEVAL_MODEL)
        else:
            _record_version(pool, tower)
        pools.append(pool)
    stages[STAGE_SOURCES] = time.perf_counter() - mark
    elapsed = time.perf_counter() - started  # every request of the batch waited all of it
    for pool in pools:
        pool.timings["Retrieval"] = elapsed
        pool.stages.update(stages)
    return pools


def _search_together(
    queries: Sequence[Query],
    histories: Sequence[History],
    seens: Sequence[np.ndarray],
    vectors: Sequence[np.ndarray | None],
    search: SearchFn | None,
    n_ann: int,
) -> dict[int, SearchFn]:
    """One ``search`` call per distinct category filter for the queries that will search
    (a history and a user vector); each gets back a ``SearchFn`` that answers with its own
    rows (or raises the call's error, so ``retrieve_candidates`` degrades as it would alone)."""
    if search is None:
        return {}
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, query in enumerate(queries):
        if vectors[i] is not None and len(histories[i].items):
            groups.setdefault(tuple(query.categories), []).append(i)
    answers: dict[int, SearchFn] = {}
    for categories, members in groups.items():
        excluded = [
            {int(x) for x in excluded_ids(queries[i], histories[i].items, seens[i])}
            for i in members
        ]
        stacked = np.stack([np.asarray(vectors[i], dtype=np.float32) for i in members])
        try:
            rows: Hits | Exception = search(stacked, n_ann, list(categories) or None, excluded)
        except Exception as error:  # noqa: BLE001 - each request records its own fallback
            rows = error
        for position, i in enumerate(members):
            answers[i] = partial(_answer, rows, position)
    return answers


def _answer(rows: Hits | Exception, position: int, *_: Any) -> Hits:
    if isinstance(rows, Exception):
        raise rows
    return [rows[position]]


def ranker_enabled(ranker: Loaded | None) -> bool:
    """A loaded ranker that validation did not switch off (older versions count as on)."""
    return ranker is not None and bool(getattr(ranker.model, "enabled", True))


def rank_pool(
    pool: CandidatePool,
    ranker: Loaded | None,
    read_features: ReadFeatures | None,
    item_features: ItemRows | None = None,
    anonymous: BoundedCache | None = None,
    item_matrix: ItemMatrix | None = None,
) -> CandidatePool:
    """The Ranking request: the candidates' item rows (held by the replica, ``item_features``,
    else one online read) and the user's (from retrieval, else read), then the ranker over
    ``ranker_feature_frame``; without a ranker, or with one that validation disabled
    (``Ranker.enabled``, saved with the version), the retrieval order stands (degraded, with the
    reason).

    ``anonymous``: scores of cold-start pools of users the store does not know, which depend
    only on the candidates (popularity in the request's segment) and the model versions, kept
    for the next such request (``anonymous_key``).

    ``item_matrix``: the held rows' side of the ranker matrix (``ItemFeatures.matrix``); when it
    holds every candidate, the matrix and availability come from it by index (the same numbers,
    no DataFrame per request)."""
    started = time.perf_counter()
    item_frame = None
    if read_features is None:
        pool.degrade(FALLBACK_ONLINE_STORE)
    if pool.user_features is None and read_features is not None and len(pool):
        try:
            pool.user_features, _ = read_features([pool.user_id], [])
        except Exception as error:  # noqa: BLE001
            log.warning("online store read failed for user %s: %s", pool.user_id, error)
            pool.degrade(FALLBACK_ONLINE_STORE)
    enabled = ranker_enabled(ranker)
    key = anonymous_key(pool, ranker) if anonymous is not None else None
    hit = anonymous.get(key) if anonymous is not None and key is not None else None
    rows = item_matrix.positions(pool.item_ids) if item_matrix is not None and len(pool) else None
    if hit is not None:
        pool.scores, pool.available, pool.actions = (a if a is None else a.copy() for a in hit)
    elif rows is not None:
        pool.scores, pool.actions = (
            score_matrix(ranker.model, item_matrix.ranker_matrix(pool, rows, pool.user_features))
            if enabled
            else (pool.retrieval_order(), None)
        )
        pool.available = item_matrix.availability(pool, rows)
        if key is not None and FALLBACK_ONLINE_STORE not in pool.fallbacks:
            anonymous.put(key, _kept(pool))  # type: ignore[union-attr]
    else:
        if len(pool) and (read_features is not None or item_features is not None):
            try:
                if item_features is not None:
                    item_frame = item_features(pool.item_ids, read_features)
                elif read_features is not None:
                    _, item_frame = read_features([], pool.item_ids.tolist())
            except Exception as error:  # noqa: BLE001
                log.warning("online store read failed for %d items: %s", len(pool), error)
                pool.degrade(FALLBACK_ONLINE_STORE)
                item_frame = None
        pool.scores, pool.actions = score_candidates(
            pool, ranker.model if enabled else None, pool.user_features, item_frame
        )
        pool.available = online_availability(pool, item_frame)
        if key is not None and FALLBACK_ONLINE_STORE not in pool.fallbacks:
            anonymous.put(key, _kept(pool))  # type: ignore[union-attr]
    if ranker is None:
        pool.degrade(FALLBACK_RANKER)
    else:
        _record_version(pool, ranker)
        if enabled:
            pool.ranked_by = RANKED_BY_RANKER
    pool.user_features = None  # not needed downstream: keep the next hop's payload small
    pool.timings["Ranking"] = time.perf_counter() - started
    return pool


def rank_pools(
    pools: Sequence[CandidatePool],
    ranker: Loaded | None,
    read_features: ReadFeatures | None,
    item_features: ItemRows | None = None,
    anonymous: BoundedCache | None = None,
    item_matrix: ItemMatrix | None = None,
) -> list[CandidatePool]:
    """``rank_pool`` for several requests with ONE ranker prediction: each pool goes through
    ``rank_pool`` with a scorer that only keeps its feature matrix, then the stacked matrices
    are scored at once and each pool gets its own rows back (cold-start answers are cached
    after that, with their real scores). An XGBoost prediction costs mostly per call."""
    if not ranker_enabled(ranker) or len(pools) < 2:
        return [
            rank_pool(p, ranker, read_features, item_features, anonymous, item_matrix)
            for p in pools
        ]
    started = time.perf_counter()
    deferred = _DeferredScorer()
    puts = _DeferredPuts(anonymous) if anonymous is not None else None
    stand_in = replace(ranker, model=deferred)
    for index, pool in enumerate(pools):
        deferred.current = index
        if puts is not None:
            puts.current = index
        rank_pool(pool, stand_in, read_features, item_features, puts, item_matrix)  # type: ignore[arg-type]
    if deferred.matrices:
        scores, actions = score_matrix(
            ranker.model, pd.concat(list(deferred.matrices.values()), ignore_index=True)
        )
        cuts = np.cumsum([len(m) for m in deferred.matrices.values()])[:-1]
        for index, part in zip(deferred.matrices, np.split(scores, cuts), strict=True):
            pools[index].scores = part
        if actions is not None:
            for index, part in zip(deferred.matrices, np.split(actions, cuts), strict=True):
                pools[index].actions = part
    for index, key in puts.keys.items() if puts is not None else ():
        anonymous.put(key, _kept(pools[index]))  # type: ignore[union-attr]
    elapsed = time.perf_counter() - started  # every request of the batch waited all of it
    for pool in pools:
        pool.timings["Ranking"] = elapsed
    return list(pools)


def _kept(pool: CandidatePool) -> tuple:
    """What the cold-start cache keeps of a ranked pool: scores, availability, actions."""
    actions = None if pool.actions is None else pool.actions.copy()
    return pool.scores.copy(), pool.available.copy(), actions  # type: ignore[union-attr]


class _DeferredScorer:
    """Keeps each pool's ranker matrix for one prediction later; scores 0 meanwhile."""

    def __init__(self) -> None:
        self.current = 0
        self.matrices: dict[int, pd.DataFrame] = {}

    def score(self, features: pd.DataFrame) -> np.ndarray:
        self.matrices[self.current] = features
        return np.zeros(len(features), dtype=np.float64)


class _DeferredPuts:
    """The cold-start cache as ``rank_pool`` sees it in a batch: reads pass, writes wait for
    the real scores."""

    def __init__(self, cache: BoundedCache) -> None:
        self.cache = cache
        self.current = 0
        self.keys: dict[int, Any] = {}

    def get(self, key: Any) -> Any:
        return self.cache.get(key)

    def put(self, key: Any, _value: Any) -> None:
        self.keys[self.current] = key


def anonymous_key(pool: CandidatePool, ranker: Loaded | None) -> tuple | None:
    """The key of a pool whose scores do not depend on who asked: a cold start (no history,
    nothing seen) of a user without an online row, under a ranker. The candidates, in order,
    stand for the segment (popularity in the requested categories or context, minus the
    excluded items); the versions of the models that produced them complete it."""
    if ranker is None or not pool.cold_start or len(pool.seen) or not len(pool):
        return None
    users = pool.user_features
    if users is not None and FOUND in users and bool(users[FOUND].astype(bool).any()):
        return None
    return (
        ranker.ref.name,
        ranker.ref.version,
        tuple(sorted(pool.versions.items())),
        users is None,
        pool.item_ids.astype(np.int64).tobytes(),
    )


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
