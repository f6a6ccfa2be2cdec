"""What the Retrieval and Ranking replicas serve from, and how each is (re)loaded.

Plain Python (no Ray): a deployment holds one runtime in a ``HotSwap`` and calls the request
functions below with it. Loading is forgiving by design: a service that is down leaves its part
of the runtime empty (recorded in ``problems``), requests then take a fallback and say so
(``degraded``), and the next refresh check tries again.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from components.data.columns import AVAILABLE, CATEGORIES, ITEM_ID, TITLE
from components.features.columns import (
    ITEM_AVAILABLE,
    ITEM_CATEGORIES,
    ITEM_EVENTS_30D,
    ITEM_EVENTS_ALL,
    USER_RECENT_ITEMS,
)
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
from components.recommend.catalog import Catalog
from components.recommend.experiment import CHAMPION_ALIAS
from components.recommend.models import (
    COLLECTION_TAG,
    Loaded,
    ModelRef,
    download_run_folder,
    download_version,
    mlflow_client,
    resolve_alias,
)
from components.recommend.scoring import online_availability, score_candidates
from components.recommend.sources import CandidateSources, Scored
from components.recommend.tables import SCORE, TABLES_ARTIFACT, load_serving_tables
from components.retrieval.reader import (
    IndexReader,
    make_search,
    open_index_reader,
    prepare_collection,
)
from serving.config import RetrievalOptions, ServeArgs

log = logging.getLogger(__name__)

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def replica_scratch(args: ServeArgs, role: str) -> Path:
    """A private scratch folder per replica (downloads, Milvus Lite copies)."""
    args.scratch_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{role}-{os.getpid()}-", dir=args.scratch_dir))


def open_store(args: ServeArgs) -> Any:
    from components.features.store import feature_store

    return feature_store(args.feast_repo, args.feast_online_store, args.feast_project)


def _resolve_all(args: ServeArgs, name: str) -> dict[str, ModelRef]:
    client = mlflow_client(args.mlflow_uri)
    refs = {}
    for alias in args.experiment.model_aliases:
        ref = resolve_alias(client, name, alias)
        if ref is not None:
            refs[alias] = ref
    return refs


def _load_versions(
    args: ServeArgs,
    refs: dict[str, ModelRef],
    previous: dict[str, Loaded],
    scratch: Path,
    loader: Any,
) -> dict[str, Loaded]:
    """Alias -> loaded model; a version already loaded is reused, not downloaded again."""
    by_key = {loaded.ref.key: loaded for loaded in previous.values()}
    out = {}
    for alias, ref in refs.items():
        if ref.key in by_key:
            old = by_key[ref.key]
            out[alias] = Loaded(ref, old.model, old.loaded_at, old.folder)
            continue
        target = scratch / "models" / f"{ref.name}-{ref.version}-{uuid.uuid4().hex[:6]}"
        model = loader(download_version(args.mlflow_uri, ref, target))
        out[alias] = Loaded(ref, model, folder=target)
        log.info("loaded %s version %s (%s)", ref.name, ref.version, alias)
    return out


def _load_aliases(
    args: ServeArgs,
    name: str,
    previous: dict[str, Loaded],
    scratch: Path,
    loader: Any,
    problems: dict[str, str],
    problem: str,
) -> dict[str, Loaded]:
    """Every alias the experiment serves of model ``name``; on failure keep ``previous`` and
    record the problem under ``problem``."""
    try:
        loaded = _load_versions(args, _resolve_all(args, name), previous, scratch, loader)
    except Exception as error:  # noqa: BLE001
        log.warning("%s unavailable: %s", problem, error)
        problems[problem] = str(error)
        loaded = dict(previous)
    if not loaded:
        problems.setdefault(problem, "no champion registered")
    return loaded


def _reuse_or_open_store(
    args: ServeArgs, previous_store: Any | None, problems: dict[str, str]
) -> Any | None:
    """The previous runtime's online store, else a new one (None, recorded, when it fails)."""
    if previous_store is not None:
        return previous_store
    try:
        return open_store(args)
    except Exception as error:  # noqa: BLE001
        problems["online_store"] = str(error)
        return None


class ItemVectors:
    """The item tower's vectors, precomputed for the whole catalog when it is small enough
    (``max_items``; 64 floats each), else computed per request. The same numbers either way:
    the tower is deterministic in eval mode."""

    def __init__(self, tower: Any, max_items: int) -> None:
        self._tower = tower
        self._ids = np.zeros(0, dtype=np.int64)
        self._vectors: np.ndarray | None = None
        if len(tower.catalog_ids) <= max_items:
            self._ids, self._vectors = tower.item_embeddings(None)

    def __call__(self, item_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        if self._vectors is None or not len(self._ids):
            return self._tower.item_embeddings(ids)[1]
        pos = np.minimum(np.searchsorted(self._ids, ids), len(self._ids) - 1)
        hit = self._ids[pos] == ids
        if hit.all():
            return self._vectors[pos]
        out = np.empty((len(ids), self._vectors.shape[1]), dtype=np.float32)
        out[hit] = self._vectors[pos[hit]]
        out[~hit] = self._tower.item_embeddings(ids[~hit])[1]
        return out


VECTOR_CACHE_ITEMS = 250_000  # ~64 MB of float32 at dim 64 per replica


@dataclass
class Tower:
    """A loaded two-tower version: the serving model and its item vectors."""

    model: Any  # TwoTowerRetrieval
    vectors: ItemVectors

    @classmethod
    def load(cls, folder: Path) -> Tower:
        from components.two_tower.export import load_two_tower

        model = load_two_tower(folder)
        return cls(model, ItemVectors(model, VECTOR_CACHE_ITEMS))


def _pick(models: dict[str, Loaded], alias: str) -> Loaded | None:
    """The variant's model, or the champion when the variant's alias does not exist."""
    return models.get(alias) or models.get(CHAMPION_ALIAS)


# --- retrieval ---------------------------------------------------------------------------------


@dataclass
class RetrievalRuntime:
    towers: dict[str, Loaded] = field(default_factory=dict)  # alias -> Tower
    searches: dict[str, SearchFn] = field(default_factory=dict)  # alias -> ANN over its index
    collections: dict[str, str] = field(default_factory=dict)
    reader: IndexReader | None = None
    sources: CandidateSources | None = None
    tables_origin: str = "none"  # "run:<id>" | "path:<dir>" | "derived" | "none"
    store: Any | None = None
    problems: dict[str, str] = field(default_factory=dict)
    scratch: Path | None = None

    @property
    def tables_degraded(self) -> bool:
        return not (self.tables_origin.startswith("run:") or self.tables_origin.startswith("path:"))


def derived_sources(store: Any | None, tower: Any | None) -> CandidateSources | None:
    """Sources when no serving tables exist: the model's catalog, popularity and categories
    from the online store's item features (no titles, no co-visitation, no seen table)."""
    if tower is None:
        return None
    ids = np.asarray(tower.catalog_ids, dtype=np.int64)
    items = pd.DataFrame({ITEM_ID: ids, TITLE: "", CATEGORIES: "", AVAILABLE: True})
    popularity = pd.DataFrame({ITEM_ID: ids, SCORE: 0.0})
    if store is not None:
        from components.features.store import online_features

        try:
            _, features = online_features(store, [], ids.tolist())
            features = features.reindex(pd.Index(ids, dtype="int64"))
            items[CATEGORIES] = features[ITEM_CATEGORIES].fillna("").astype(str).to_numpy()
            items[AVAILABLE] = features[ITEM_AVAILABLE].fillna(1).astype(int).to_numpy() > 0
            popularity[SCORE] = (
                features[ITEM_EVENTS_30D].fillna(0).astype(float).to_numpy()
                + 1e-3 * features[ITEM_EVENTS_ALL].fillna(0).astype(float).to_numpy()
            )
        except Exception as error:  # noqa: BLE001
            log.warning("no item features for derived popularity: %s", error)
    return CandidateSources(Catalog.from_items(items), popularity)


def _reusable(previous: RetrievalRuntime | None, origin: str | None) -> bool:
    if previous is None or previous.sources is None:
        return False
    return previous.tables_origin == origin


def _load_sources(
    args: ServeArgs,
    champion: Loaded | None,
    previous: RetrievalRuntime | None,
    store: Any | None,
    scratch: Path,
) -> tuple[CandidateSources | None, str]:
    run_id = champion.ref.run_id if champion is not None else None
    origin = f"run:{run_id}" if run_id else None
    if _reusable(previous, origin):
        return previous.sources, origin  # type: ignore[union-attr]
    if run_id:
        folder = download_run_folder(
            args.mlflow_uri, run_id, TABLES_ARTIFACT, scratch / "tables" / run_id
        )
        if folder is not None:
            return CandidateSources.from_tables(load_serving_tables(folder)), f"run:{run_id}"
    if args.tables_dir is not None:
        origin = f"path:{args.tables_dir}"
        if _reusable(previous, origin):
            return previous.sources, origin  # type: ignore[union-attr]
        return CandidateSources.from_tables(load_serving_tables(args.tables_dir)), origin
    if _reusable(previous, "derived"):
        before = previous.towers.get(CHAMPION_ALIAS)  # type: ignore[union-attr]
        if champion is not None and before is not None and before.model is champion.model:
            return previous.sources, "derived"  # type: ignore[union-attr]
    sources = derived_sources(store, champion.model.model if champion is not None else None)
    return sources, "derived" if sources is not None else "none"


def load_retrieval_runtime(
    args: ServeArgs, previous: RetrievalRuntime | None, scratch: Path
) -> RetrievalRuntime:
    """Towers for every alias the experiment serves, the index, the tables and the store;
    reuses whatever of ``previous`` is still current."""
    runtime = RetrievalRuntime(scratch=scratch)
    runtime.towers = _load_aliases(
        args,
        args.retrieval_model,
        previous.towers if previous else {},
        scratch,
        Tower.load,
        runtime.problems,
        "retrieval_model",
    )
    runtime.store = _reuse_or_open_store(
        args, previous.store if previous else None, runtime.problems
    )

    champion = runtime.towers.get(CHAMPION_ALIAS)
    try:
        runtime.sources, runtime.tables_origin = _load_sources(
            args, champion, previous, runtime.store, scratch
        )
    except Exception as error:  # noqa: BLE001
        log.warning("serving tables unavailable: %s", error)
        runtime.problems["serving_tables"] = str(error)
    if runtime.sources is None:
        runtime.problems.setdefault("serving_tables", "no tables and no model catalog")

    runtime.collections = {
        alias: loaded.ref.tags.get(COLLECTION_TAG) or args.milvus_alias
        for alias, loaded in runtime.towers.items()
    }
    unchanged = (
        previous is not None
        and previous.reader is not None
        and previous.collections == runtime.collections
        and len(previous.searches) == len(runtime.collections)
    )
    if unchanged:
        runtime.reader, runtime.searches = previous.reader, dict(previous.searches)
    elif runtime.collections:
        try:
            runtime.reader = open_index_reader(args.milvus_uri, args.milvus_token, scratch)
            for alias, collection in runtime.collections.items():
                params = prepare_collection(runtime.reader, collection)
                runtime.searches[alias] = make_search(runtime.reader, collection, params)
        except Exception as error:  # noqa: BLE001
            log.warning("Milvus unavailable (%s): serving without ANN", error)
            runtime.problems["milvus"] = str(error)
            if runtime.reader is not None:
                runtime.reader.close()
            runtime.reader, runtime.searches = None, {}
    _refuse_regression(previous, runtime)
    return runtime


def _refuse_regression(previous: Any, runtime: Any) -> None:
    """A refresh that would lose something the current runtime has (Milvus busy while a
    training step writes to it, the registry flickering) raises: ``HotSwap`` then keeps
    serving the current runtime and tries again at the next check."""
    if previous is None:
        return
    lost = set(runtime.problems) - set(previous.problems)
    if lost:
        reader = getattr(runtime, "reader", None)
        if reader is not None and reader is not getattr(previous, "reader", None):
            reader.close()
        raise RuntimeError(f"refresh incomplete, keeping the current runtime: {runtime.problems}")


def retrieval_is_stale(args: ServeArgs, runtime: RetrievalRuntime) -> bool:
    """An alias moved, or a part that failed to load may load now."""
    refs = _resolve_all(args, args.retrieval_model)
    current = {alias: loaded.ref.version for alias, loaded in runtime.towers.items()}
    return {alias: ref.version for alias, ref in refs.items()} != current or bool(runtime.problems)


def _retire_models(old: dict[str, Loaded], new: dict[str, Loaded]) -> None:
    in_use = {id(loaded.model) for loaded in new.values()}
    for loaded in old.values():
        if id(loaded.model) not in in_use and loaded.folder is not None:
            shutil.rmtree(loaded.folder, ignore_errors=True)
            log.info("retired %s version %s", loaded.ref.name, loaded.ref.version)


def retire_retrieval(old: RetrievalRuntime, new: RetrievalRuntime) -> None:
    """Close what the new runtime no longer uses (called after the grace period)."""
    if old.reader is not None and old.reader is not new.reader:
        old.reader.close()
    _retire_models(old.towers, new.towers)


def retire_ranking(old: RankingRuntime, new: RankingRuntime) -> None:
    _retire_models(old.rankers, new.rankers)


def _user_history(
    runtime: RetrievalRuntime, user_id: int, history_length: int
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame | None, list[str]]:
    """(history most recent first, everything seen, the user's online feature row, fallbacks).

    The online store's ``user_recent_items`` is the freshest history; the serving tables' seen
    items cover what it does not hold (older items, or the store being down)."""
    from components.features.store import FOUND, online_features

    fallbacks: list[str] = []
    recent: list[int] = []
    frame = None
    if runtime.store is None:
        fallbacks.append(FALLBACK_ONLINE_STORE)
    else:
        try:
            frame, _ = online_features(runtime.store, [user_id], [])
            if bool(frame[FOUND].iloc[0]):
                recent = [int(i) for i in (frame[USER_RECENT_ITEMS].iloc[0] or [])]
        except Exception as error:  # noqa: BLE001
            log.warning("online store read failed for user %s: %s", user_id, error)
            fallbacks.append(FALLBACK_ONLINE_STORE)
            frame = None
    seen_before = (
        runtime.sources.seen_items(user_id) if runtime.sources is not None else np.zeros(0, int)
    )
    if recent:
        older = seen_before[~np.isin(seen_before, recent)]
        history = np.concatenate([np.asarray(recent, dtype=np.int64), older])
    else:
        history = np.asarray(seen_before, dtype=np.int64)
    seen = np.union1d(history, seen_before)
    return history[:history_length], seen, frame, fallbacks


def recommend_candidates(
    runtime: RetrievalRuntime,
    options: RetrievalOptions,
    query: Query,
    alias: str,
    recently_seen: np.ndarray | None = None,
) -> CandidatePool:
    """The Retrieval deployment's request: history, user vector, ANN + co-vis + popularity.
    ``recently_seen``: items from feedback newer than the tables (``EventTail``)."""
    started = time.perf_counter()
    loaded = _pick(runtime.towers, alias)
    bundle: Tower | None = loaded.model if loaded is not None else None
    tower = bundle.model if bundle is not None else None
    if runtime.sources is None:
        raise RuntimeError("no catalog loaded (no serving tables and no model)")
    history, seen, user_frame, fallbacks = _user_history(
        runtime, query.user_id, tower.history_length if tower is not None else 50
    )
    if recently_seen is not None and len(recently_seen):
        seen = np.union1d(seen, recently_seen)
    user_vector = None
    if tower is not None and len(history):
        user_vector = tower.user_embeddings([query.user_id], [history.tolist()])[0]
    search_alias = alias if alias in runtime.searches else CHAMPION_ALIAS
    pool = retrieve_candidates(
        query,
        runtime.sources,
        history=history,
        seen=seen,
        user_vector=user_vector,
        embed_items=bundle.vectors if bundle is not None else None,
        search=runtime.searches.get(search_alias),
        n_ann=options.n_ann,
        n_covisit=options.n_covisit,
        n_popular=options.n_popular,
    )
    pool.user_features = user_frame
    for reason in fallbacks:
        pool.degrade(reason)
    if runtime.tables_degraded:
        pool.degrade(FALLBACK_TABLES)
    if tower is None:
        pool.degrade(FALLBACK_RETRIEVAL_MODEL)
    else:
        pool.versions[loaded.ref.name] = loaded.ref.version
        pool.loaded_at[loaded.ref.name] = loaded.loaded_at
    pool.timings["Retrieval"] = time.perf_counter() - started
    return pool


@dataclass
class Similar:
    item_id: int
    items: list[tuple[int, float, str]]  # (id, score, title)
    fallbacks: list[str]
    versions: dict[str, str]


def similar_items(runtime: RetrievalRuntime, item_id: int, k: int) -> Similar | None:
    """Nearest items to a catalog item; None when the catalog does not know it."""
    sources = runtime.sources
    if sources is None or not bool(sources.catalog.contains([item_id])[0]):
        return None
    loaded = runtime.towers.get(CHAMPION_ALIAS)
    found, fallbacks = similar_candidates(
        item_id,
        k,
        sources,
        embed_items=loaded.model.vectors if loaded is not None else None,
        search=runtime.searches.get(CHAMPION_ALIAS),
    )
    if runtime.tables_degraded:
        fallbacks.append(FALLBACK_TABLES)
    titles = sources.catalog.titles_of(found.ids)
    return Similar(
        item_id=int(item_id),
        items=[
            (int(i), float(s), t) for i, s, t in zip(found.ids, found.scores, titles, strict=True)
        ],
        fallbacks=fallbacks,
        versions={loaded.ref.name: loaded.ref.version} if loaded is not None else {},
    )


def known_items(runtime: RetrievalRuntime, item_ids: list[int]) -> list[int]:
    if runtime.sources is None:
        raise RuntimeError("no catalog loaded")
    ids = np.asarray(item_ids, dtype=np.int64)
    return ids[runtime.sources.catalog.contains(ids)].tolist()


def describe_retrieval(runtime: RetrievalRuntime) -> dict[str, Any]:
    return {
        "models": {
            alias: {
                "name": loaded.ref.name,
                "version": loaded.ref.version,
                "loaded_at": loaded.loaded_at,
            }
            for alias, loaded in runtime.towers.items()
        },
        "collections": runtime.collections,
        "index": runtime.reader is not None,
        "tables": runtime.tables_origin,
        "problems": dict(runtime.problems),
        "ready": CHAMPION_ALIAS in runtime.towers and runtime.sources is not None,
    }


# --- ranking -----------------------------------------------------------------------------------


@dataclass
class RankingRuntime:
    rankers: dict[str, Loaded] = field(default_factory=dict)
    store: Any | None = None
    problems: dict[str, str] = field(default_factory=dict)
    scratch: Path | None = None


def load_ranking_runtime(
    args: ServeArgs, previous: RankingRuntime | None, scratch: Path
) -> RankingRuntime:
    from components.ranker.model import load_ranker

    runtime = RankingRuntime(scratch=scratch)
    runtime.rankers = _load_aliases(
        args,
        args.ranker_model,
        previous.rankers if previous else {},
        scratch,
        load_ranker,
        runtime.problems,
        "ranker",
    )
    runtime.store = _reuse_or_open_store(
        args, previous.store if previous else None, runtime.problems
    )
    _refuse_regression(previous, runtime)
    return runtime


def ranking_is_stale(args: ServeArgs, runtime: RankingRuntime) -> bool:
    refs = _resolve_all(args, args.ranker_model)
    current = {alias: loaded.ref.version for alias, loaded in runtime.rankers.items()}
    return {alias: ref.version for alias, ref in refs.items()} != current or bool(runtime.problems)


def rank_pool(runtime: RankingRuntime, pool: CandidatePool, alias: str) -> CandidatePool:
    """The Ranking deployment's request: one online read for the candidates (and the user, if
    retrieval could not read it), the ranker over ``ranker_feature_frame``."""
    from components.features.store import online_features

    started = time.perf_counter()
    loaded = _pick(runtime.rankers, alias)
    item_frame = None
    if runtime.store is None:
        pool.degrade(FALLBACK_ONLINE_STORE)
    elif len(pool):
        try:
            users = [pool.user_id] if pool.user_features is None else []
            user_frame, item_frame = online_features(runtime.store, users, pool.item_ids.tolist())
            if users:
                pool.user_features = user_frame
        except Exception as error:  # noqa: BLE001
            log.warning("online store read failed for %d items: %s", len(pool), error)
            pool.degrade(FALLBACK_ONLINE_STORE)
            item_frame = None
    pool.scores = score_candidates(
        pool, loaded.model if loaded is not None else None, pool.user_features, item_frame
    )
    pool.available = online_availability(pool, item_frame)
    if loaded is None:
        pool.degrade(FALLBACK_RANKER)
    else:
        pool.versions[loaded.ref.name] = loaded.ref.version
        pool.loaded_at[loaded.ref.name] = loaded.loaded_at
    pool.user_features = None  # not needed downstream: keep the next hop's payload small
    pool.timings["Ranking"] = time.perf_counter() - started
    return pool


def describe_ranking(runtime: RankingRuntime) -> dict[str, Any]:
    return {
        "models": {
            alias: {
                "name": loaded.ref.name,
                "version": loaded.ref.version,
                "loaded_at": loaded.loaded_at,
            }
            for alias, loaded in runtime.rankers.items()
        },
        "problems": dict(runtime.problems),
        "ready": CHAMPION_ALIAS in runtime.rankers,
    }


def remove_scratch(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


__all__ = [
    "RankingRuntime",
    "RetrievalRuntime",
    "Scored",
    "Similar",
    "describe_ranking",
    "describe_retrieval",
    "known_items",
    "load_ranking_runtime",
    "load_retrieval_runtime",
    "rank_pool",
    "ranking_is_stale",
    "recommend_candidates",
    "replica_scratch",
    "retire_ranking",
    "retire_retrieval",
    "retrieval_is_stale",
    "similar_items",
]
