"""What the Retrieval and Ranking replicas serve from, and how each is (re)loaded.

Composition only: a runtime holds the loaded models (``AliasModels``), the index searches, the
serving tables and the online store; a request is one call of a plain function in
``components.recommend.request`` with them. A deployment keeps one runtime in a ``HotSwap``.
Loading is forgiving by design: a service that is down leaves its part of the runtime empty
(recorded in ``problems``), requests then take a fallback and say so (``degraded``), and the
next refresh check tries again.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from enum import Enum
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
)
from components.features.store import item_entity_ids, materialization_signature
from components.privacy.erasure import ErasureList
from components.privacy.ids import UserIds
from components.recommend import request
from components.recommend.cache import BoundedCache
from components.recommend.candidates import CandidatePool, Query, SearchFn
from components.recommend.catalog import Catalog, read_catalog_updates, updates_signature
from components.recommend.experiment import CHAMPION_ALIAS
from components.recommend.item_features import ItemFeatures
from components.recommend.live import Applied, FeastUserRows, UserRowStore, apply_events
from components.recommend.models import AliasModels, Loaded, ModelLoader
from components.recommend.request import ReadFeatures, Similar, store_reader
from components.recommend.sources import CandidateSources
from components.recommend.tables import SCORE, TABLES_ARTIFACT, load_serving_tables
from components.recommend.tower import Tower
from components.registry import COLLECTION_TAG, RegisteredVersions, download_run_folder
from components.retrieval.build import upsert_vectors
from components.retrieval.exact import exact_search, held_index, load_exact_index
from components.retrieval.info import alias_target
from components.retrieval.reader import (
    IndexReader,
    make_search,
    open_index_reader,
    prepare_collection,
)
from serving.config import RetrievalOptions, ServeArgs

log = logging.getLogger(__name__)

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

RETRIEVAL_MODEL = "retrieval_model"  # problem keys
RANKER = "ranker"
ONLINE_STORE = "online_store"
SERVING_TABLES = "serving_tables"
ITEM_FEATURES = "item_features"
MILVUS = "milvus"


def _by_alias(aliases: list[str]) -> dict[str, list[int]]:
    """Positions of a batch's requests per model alias (an A/B arm), first-come order."""
    groups: dict[str, list[int]] = {}
    for position, alias in enumerate(aliases):
        groups.setdefault(alias, []).append(position)
    return groups


def limit_threads(threads: int) -> None:
    """Cap the BLAS, OpenMP (XGBoost) and torch thread pools of this process at ``threads``.
    A replica asks Ray for a fraction of a core and shares the machine with other replicas;
    pools sized to every core then spin against each other (measured on 2 busy cores: a
    10k x 64 matrix-vector product 12.7 ms with 2 threads, 0.18 ms with 1)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency; retrieval only needs it
        return
    torch.set_num_threads(threads)


def open_store(args: ServeArgs) -> Any:
    """The online store, opened only if its files exist (never an empty stand-in)."""
    from components.features.store import open_existing_store

    return open_existing_store(args.feast_repo, args.feast_online_store, args.feast_project)


def runtime_degraded(runtime: RetrievalRuntime | RankingRuntime) -> bool:
    """Something failed to load (``HotSwap`` then checks again sooner, with backoff)."""
    return bool(runtime.problems)


def _reuse_or_open_store(
    args: ServeArgs, previous_store: Any | None, problems: dict[str, str]
) -> Any | None:
    """The previous runtime's online store, else a new one (None, recorded, when it fails)."""
    if previous_store is not None:
        return previous_store
    try:
        return open_store(args)
    except Exception as error:  # noqa: BLE001
        problems[ONLINE_STORE] = str(error)
        return None


def _models(
    args: ServeArgs, name: str, load: Any, scratch: Path, previous: AliasModels | None
) -> AliasModels:
    loader = ModelLoader(
        name, args.experiment.model_aliases, RegisteredVersions(args.mlflow_uri), load, scratch
    )
    return AliasModels.load(loader, previous)


def _refuse_regression(previous: dict[str, str] | None, problems: dict[str, str]) -> None:
    """A refresh that would lose something the current runtime has and gains nothing (Milvus
    busy while a training step writes to it, the registry flickering) raises: ``HotSwap`` then
    keeps serving the current runtime and tries again at the next check. One that resolves a
    problem is taken even if it meets a new one: the models coming back after the registry was
    missing is the first time Milvus is tried, and a missing index must not keep them out."""
    if previous is None:
        return
    appeared, resolved = set(problems) - set(previous), set(previous) - set(problems)
    if appeared and not resolved:
        raise RuntimeError(f"refresh incomplete, keeping the current runtime: {problems}")


# --- retrieval ---------------------------------------------------------------------------------


class TablesFrom(Enum):
    RUN = "run"  # the champion run's ``serving_tables`` artefact
    PATH = "path"  # ``ServeArgs.tables_dir``
    DERIVED = "derived"  # the model's catalog and the online store's item features
    NONE = "none"


@dataclass(frozen=True)
class TablesOrigin:
    """Where the serving tables came from (``where``: the run id or the folder)."""

    source: TablesFrom
    where: str = ""

    @property
    def degraded(self) -> bool:
        """No real tables: no titles, co-visitation or seen items."""
        return self.source not in (TablesFrom.RUN, TablesFrom.PATH)

    def __str__(self) -> str:
        return f"{self.source.value}:{self.where}" if self.where else self.source.value


NO_TABLES = TablesOrigin(TablesFrom.NONE)


@dataclass
class RetrievalRuntime:
    towers: AliasModels  # alias -> Tower
    searches: dict[str, SearchFn] = field(default_factory=dict)  # alias -> ANN over its index
    collections: dict[str, str] = field(default_factory=dict)
    reader: IndexReader | None = None
    sources: CandidateSources | None = None
    tables_origin: TablesOrigin = NO_TABLES
    store: Any | None = None
    users: BoundedCache = field(default_factory=lambda: BoundedCache(0, 0))  # user rows, TTL
    problems: dict[str, str] = field(default_factory=dict)
    catalog_signature: str = "0"  # the catalog updates merged (catalog.updates_signature)
    _catalog_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _merged_rows: frozenset[str] = frozenset()  # update rows already in the index
    erasures: ErasureList | None = None  # erased users: hidden from the seen table

    def refresh_erasures(self) -> int:
        """Re-read the erasure list when it changed and hide erased users' rows of the seen
        table (seen items, stand-in history) until the next champion's tables; return how many
        users are hidden. One ``stat`` when nothing changed; per request a set lookup."""
        sources = self.sources
        if self.erasures is None or sources is None:
            return 0
        self.erasures.refresh()
        if sources.erased_version != self.erasures.version:
            erased = self.erasures.erased_among(sources.user_ids())
            sources.forget_users(erased, self.erasures.version)
            for user in erased:  # their cached user rows too (the online store lost them)
                self.users.discard(user)
        return len(sources.erased_users)

    @property
    def read_features(self) -> ReadFeatures | None:
        return request.cached_user_reads(store_reader(self.store), self.users)

    def apply_live(
        self, events: pd.DataFrame, applied_ids: BoundedCache, rows: UserRowStore | None = None
    ) -> Applied:
        """Accepted feedback into the online store's user rows (``live.apply_events``; ``rows``:
        the store's user view unless given); this replica forgets its cached rows of those users
        at once (other replicas within their TTL)."""
        if rows is None and self.store is None:
            raise RuntimeError("no online store: feedback waits for the next training run")
        rows = rows if rows is not None else FeastUserRows(self.store)
        result = apply_events(rows, events, applied_ids=applied_ids)
        for user in result.users:
            self.users.discard(user)
        return result

    def refresh_catalog(self, directory: Path | None) -> bool:
        """Merge catalog updates newer than the ones merged: new items join the catalog (known
        to feedback, popularity, rules) and every searched index with the item tower's
        content-path vectors; availability follows the update. True when something changed."""
        if directory is None or self.sources is None:
            return False
        with self._catalog_lock:  # the poll thread and the admin route: one merge at a time
            if updates_signature(directory) == self.catalog_signature:
                return False
            return self._merge_catalog(directory)

    def _merge_catalog(self, directory: Path) -> bool:
        # An update whose string ids collide with the catalog's (or an earlier update's) names
        # is left out with an error logged (catalog.accepted_updates): nothing held is lost.
        signature, updates = read_catalog_updates(directory, self.sources.catalog.names)
        rows = updates.astype(str).agg("|".join, axis=1) if len(updates) else pd.Series([])
        changed = updates[~rows.isin(self._merged_rows).to_numpy(bool)]
        if len(changed):  # only rows not merged yet: the log grows, the work per update not
            catalog = self.sources.catalog.updated(changed)
            ids = changed[ITEM_ID].to_numpy(np.int64)
            categories = catalog.categories_of(ids)
            available = catalog.is_available(ids)
            for alias, loaded in self.towers.models.items():
                loaded.model.model.add_items(ids, categories)
                collection = self.collections.get(alias)
                if self.reader is None or not collection:
                    continue
                target = alias_target(self.reader.client, collection) or collection
                vectors = loaded.model.vectors(ids)
                upsert_vectors(self.reader.client, target, ids, vectors, categories, available)
                search = self.searches.get(alias)
                held = held_index(search) if search is not None else None
                if held is not None:  # searched in memory: the same rows go there too
                    self.searches[alias] = exact_search(
                        held.upserted(ids, vectors, categories, available)
                    )
            self.sources = self.sources.with_catalog(catalog)
        self.catalog_signature = signature
        self._merged_rows = frozenset(rows)
        log.info("catalog updates merged (%s): %d items changed", signature, len(changed))
        return True

    def _sources(self) -> CandidateSources:
        if self.sources is None:
            raise RuntimeError("no catalog loaded (no serving tables and no model)")
        return self.sources

    def recommend(
        self,
        options: RetrievalOptions,
        queries: list[Query],
        aliases: list[str],
        recently_seen: list[np.ndarray | None] | None = None,
    ) -> list[CandidatePool]:
        """Pools for a batch of requests, in order; requests of one alias (one tower, one
        index) share a tower forward and a search call."""
        sources = self._sources()
        recent = recently_seen if recently_seen is not None else [None] * len(queries)
        pools: list[CandidatePool | None] = [None] * len(queries)
        for alias, members in _by_alias(aliases).items():
            search_alias = alias if alias in self.searches else CHAMPION_ALIAS
            found = request.recommend_candidates_batch(
                [queries[i] for i in members],
                sources,
                tower=self.towers.pick(alias),
                search=self.searches.get(search_alias),
                read_features=self.read_features,
                tables_degraded=self.tables_origin.degraded,
                recently_seen=[recent[i] for i in members],
                n_ann=options.n_ann,
                n_covisit=options.n_covisit,
                n_popular=options.n_popular,
            )
            for i, pool in zip(members, found, strict=True):
                pools[i] = pool
        return pools  # type: ignore[return-value]

    def similar(self, item_id: int, k: int) -> Similar | None:
        if self.sources is None:
            return None
        return request.similar_items(
            item_id,
            k,
            self.sources,
            tower=self.towers.champion,
            search=self.searches.get(CHAMPION_ALIAS),
            tables_degraded=self.tables_origin.degraded,
        )

    def known_items(self, item_ids: list[int]) -> list[int]:
        return request.known_items(self._sources(), item_ids)

    def catalog_ids(self) -> np.ndarray:
        """Every item id the catalog holds (the ingress's snapshot for feedback checks)."""
        return np.asarray(self._sources().catalog.ids, dtype=np.int64)

    def catalog_fingerprint(self) -> str:
        """What ``catalog_ids`` and ``catalog_names`` would return, as a digest: the ingress
        asks it first and copies them only when it changed."""
        return self._sources().catalog.fingerprint

    def catalog_names(self, item_ids: list[int] | None = None) -> dict[int, str]:
        """Internal id -> string id of the catalog's items named by a string (all, or those of
        ``item_ids``): how the ingress answers with the ids clients know."""
        names = self._sources().catalog.names
        if item_ids is None:
            return dict(names)
        return {int(i): names[int(i)] for i in item_ids if int(i) in names}

    def is_stale(self) -> bool:
        """An alias moved, or a part that failed to load may load now."""
        return self.towers.is_stale() or bool(self.problems)

    def retire(self, newer: RetrievalRuntime) -> None:
        """Close what ``newer`` no longer uses (called after the grace period)."""
        if self.reader is not None and self.reader is not newer.reader:
            self.reader.close()
        self.towers.retire(newer.towers)

    def describe(self) -> dict[str, Any]:
        return {
            "models": self.towers.describe(),
            "collections": self.collections,
            "index": self.reader is not None,
            "tables": str(self.tables_origin),
            "catalog_items": len(self.sources.catalog.ids) if self.sources else 0,
            "user_cache": self.users.describe(),
            "erased_users_hidden": len(self.sources.erased_users) if self.sources else 0,
            "problems": dict(self.problems),
            "ready": self.towers.champion is not None and self.sources is not None,
        }


def derived_sources(store: Any | None, tower: Any | None) -> CandidateSources | None:
    """Sources when no serving tables exist: the model's catalog, popularity and categories
    from the online store's item features (no titles, no co-visitation, no seen table)."""
    if tower is None:
        return None
    ids = np.asarray(tower.catalog_ids, dtype=np.int64)
    items = pd.DataFrame({ITEM_ID: ids, TITLE: "", CATEGORIES: "", AVAILABLE: True})
    popularity = pd.DataFrame({ITEM_ID: ids, SCORE: 0.0})
    read = store_reader(store)
    if read is not None:
        try:
            _, features = read([], ids.tolist())
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


def _load_sources(
    args: ServeArgs,
    champion: Loaded | None,
    previous: RetrievalRuntime | None,
    store: Any | None,
    scratch: Path,
) -> tuple[CandidateSources | None, TablesOrigin]:
    """The champion run's tables, else ``args.tables_dir``, else derived from the model and the
    store; the previous runtime's when they come from the same origin."""

    def reused(origin: TablesOrigin) -> CandidateSources | None:
        if previous is not None and previous.tables_origin == origin:
            return previous.sources
        return None

    run_id = champion.ref.run_id if champion is not None else None
    if run_id:
        origin = TablesOrigin(TablesFrom.RUN, run_id)
        if (sources := reused(origin)) is not None:
            return sources, origin
        folder = download_run_folder(
            args.mlflow_uri, run_id, TABLES_ARTIFACT, scratch / "tables" / run_id
        )
        if folder is not None:
            return CandidateSources.from_tables(load_serving_tables(folder)), origin
    if args.tables_dir is not None:
        origin = TablesOrigin(TablesFrom.PATH, str(args.tables_dir))
        if (sources := reused(origin)) is not None:
            return sources, origin
        return CandidateSources.from_tables(load_serving_tables(args.tables_dir)), origin
    derived = TablesOrigin(TablesFrom.DERIVED)
    if (sources := reused(derived)) is not None:
        before = previous.towers.champion  # type: ignore[union-attr]
        if champion is not None and before is not None and before.model is champion.model:
            return sources, derived
    sources = derived_sources(store, champion.model.model if champion is not None else None)
    return sources, derived if sources is not None else NO_TABLES


def _open_searches(
    args: ServeArgs,
    collections: dict[str, str],
    previous: RetrievalRuntime | None,
    scratch: Path,
    problems: dict[str, str],
) -> tuple[IndexReader | None, dict[str, SearchFn]]:
    """The previous reader when the collections did not change, else a new one (none, recorded,
    when Milvus is unavailable)."""
    if (
        previous is not None
        and previous.reader is not None
        and previous.collections == collections
        and len(previous.searches) == len(collections)
    ):
        return previous.reader, dict(previous.searches)
    if not collections:
        return None, {}
    reader = None
    try:
        reader = open_index_reader(args.milvus_uri, args.milvus_token, scratch)
        searches = {}
        for alias, collection in collections.items():
            params = prepare_collection(reader, collection)
            held = load_exact_index(reader.client, collection, args.exact_search_max_items)
            searches[alias] = (
                exact_search(held) if held is not None else make_search(reader, collection, params)
            )
        return reader, searches
    except Exception as error:  # noqa: BLE001
        log.warning("Milvus unavailable (%s): serving without ANN", error)
        problems[MILVUS] = str(error)
        if reader is not None:
            reader.close()
        return None, {}


def load_retrieval_runtime(
    args: ServeArgs, previous: RetrievalRuntime | None, scratch: Path
) -> RetrievalRuntime:
    """Towers for every alias the experiment serves, the index, the tables and the store;
    reuses whatever of ``previous`` is still current."""
    towers = _models(
        args, args.retrieval_model, Tower.load, scratch, previous.towers if previous else None
    )
    # A new runtime (a moved alias, a part reloaded) starts with an empty user cache.
    runtime = RetrievalRuntime(
        towers=towers, users=BoundedCache(args.user_cache_size, args.user_cache_ttl_s)
    )
    if towers.problem is not None:
        runtime.problems[RETRIEVAL_MODEL] = towers.problem
    runtime.store = _reuse_or_open_store(
        args, previous.store if previous else None, runtime.problems
    )
    try:
        runtime.sources, runtime.tables_origin = _load_sources(
            args, towers.champion, previous, runtime.store, scratch
        )
    except Exception as error:  # noqa: BLE001
        log.warning("serving tables unavailable: %s", error)
        runtime.problems[SERVING_TABLES] = str(error)
    if runtime.sources is None:
        runtime.problems.setdefault(SERVING_TABLES, "no tables and no model catalog")
    runtime.collections = {
        alias: loaded.ref.tags.get(COLLECTION_TAG) or args.milvus_alias
        for alias, loaded in towers.models.items()
    }
    runtime.reader, runtime.searches = _open_searches(
        args, runtime.collections, previous, scratch, runtime.problems
    )
    try:
        _refuse_regression(previous.problems if previous else None, runtime.problems)
    except RuntimeError:
        if runtime.reader is not None and runtime.reader is not (previous and previous.reader):
            runtime.reader.close()
        raise
    try:  # a new runtime (new tower, new index copy) serves the catalog updates at once
        runtime.refresh_catalog(args.catalog_updates_dir)
    except Exception as error:  # noqa: BLE001 - retried at the next poll
        log.warning("catalog updates not merged: %s", error)
    # Any champion's tables (an older run promoted again too) hide the users erased since.
    runtime.erasures = (
        previous.erasures
        if previous is not None and previous.erasures is not None
        else ErasureList(args.erased_users_file, UserIds(bytes.fromhex(args.id_key)))
    )
    runtime.refresh_erasures()
    return runtime


# --- ranking -----------------------------------------------------------------------------------


@dataclass
class RankingRuntime:
    rankers: AliasModels  # alias -> XGBoost ranker
    store: Any | None = None
    item_features: ItemFeatures | None = None  # every item's online row, held
    anonymous: BoundedCache = field(default_factory=lambda: BoundedCache(0, 0))  # cold scores
    problems: dict[str, str] = field(default_factory=dict)

    def rank(self, pools: list[CandidatePool], aliases: list[str]) -> list[CandidatePool]:
        """A batch of pools ranked in order; pools of one alias share one ranker prediction."""
        held = self.item_features.rows if self.item_features is not None else None
        matrix = self.item_features.matrix if self.item_features is not None else None
        ranked: list[CandidatePool | None] = [None] * len(pools)
        for alias, members in _by_alias(aliases).items():
            found = request.rank_pools(
                [pools[i] for i in members],
                self.rankers.pick(alias),
                store_reader(self.store),
                held,
                self.anonymous,
                matrix,
            )
            for i, pool in zip(members, found, strict=True):
                ranked[i] = pool
        return ranked  # type: ignore[return-value]

    def features_stale(self) -> bool:
        """The store was re-materialized since the held item rows were read."""
        if self.store is None or self.item_features is None:
            return False
        try:
            return materialization_signature(self.store) != self.item_features.signature
        except Exception as error:  # noqa: BLE001 - the registry flickering is not a change
            log.warning("could not read the item view's materialization: %s", error)
            return False

    def is_stale(self) -> bool:
        return self.rankers.is_stale() or bool(self.problems) or self.features_stale()

    def retire(self, newer: RankingRuntime) -> None:
        self.rankers.retire(newer.rankers)

    def describe(self) -> dict[str, Any]:
        held = self.item_features
        return {
            "models": self.rankers.describe(),
            "item_features": None if held is None else held.describe(),
            "anonymous_cache": self.anonymous.describe(),
            "problems": dict(self.problems),
            "ready": self.rankers.champion is not None,
        }


def load_item_features(
    store: Any | None, previous: ItemFeatures | None, problems: dict[str, str]
) -> ItemFeatures | None:
    """Every item's online row, read in bulk; the previous rows when the store was not
    re-materialized since. A failed read keeps the previous rows (requests read online when
    there are none) and says so in ``problems`` (shown by /readyz, retried at the next check)."""
    if store is None:
        return previous
    try:
        signature = materialization_signature(store)
        if previous is not None and previous.signature == signature:
            return previous
        return ItemFeatures.load(store_reader(store), item_entity_ids(store), signature)
    except Exception as error:  # noqa: BLE001
        kept = (
            f"keeping the rows of materialization {previous.signature}"
            if previous is not None
            else "reading item rows online per request"
        )
        log.warning("item features reload failed (%s): %s", kept, error)
        problems[ITEM_FEATURES] = f"reload failed, {kept}: {error}"
        return previous


def load_ranking_runtime(
    args: ServeArgs, previous: RankingRuntime | None, scratch: Path
) -> RankingRuntime:
    from components.ranker.model import load_ranker  # xgboost: only where rankers load

    rankers = _models(
        args, args.ranker_model, load_ranker, scratch, previous.rankers if previous else None
    )
    # A new runtime (a moved alias, a new materialization) starts with an empty result cache.
    runtime = RankingRuntime(
        rankers=rankers,
        anonymous=BoundedCache(args.anonymous_cache_size, args.anonymous_cache_ttl_s),
    )
    if rankers.problem is not None:
        runtime.problems[RANKER] = rankers.problem
    runtime.store = _reuse_or_open_store(
        args, previous.store if previous else None, runtime.problems
    )
    _refuse_regression(previous.problems if previous else None, runtime.problems)
    runtime.item_features = load_item_features(
        runtime.store, previous.item_features if previous else None, runtime.problems
    )
    return runtime
