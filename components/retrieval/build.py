"""Building the item index: one collection per training run, served through an alias.

Why this shape: serving only ever searches the alias (e.g. ``reco_items``). A training run
builds a NEW collection ``{alias}_{run_id}`` (``build_collection``: insert, flush, index, load,
count); only when the count matches may the alias move, in one atomic ``alter_alias`` call
(``swap_alias``, which the promotion gate calls). A search never sees a half-built index,
rollback is moving the alias back, and old collections stay until ``drop_stale_collections``
removes them.

What Milvus Lite (milvus-lite 3.2.x: an in-process, pure-Python gRPC server over faiss) does
differently from a Milvus server here, as measured with pymilvus 3.0.2:

- it ignores ``num_shards`` (``describe_collection`` reports 1);
- it has no DISKANN and no IVF_PQ (rejected at ``create_index``); FLAT is brute force and
  AUTOINDEX is HNSW. A rejected index type falls back (DISKANN -> HNSW, IVF_PQ -> IVF_SQ8,
  anything else -> FLAT) with a logged warning, recorded on the collection (``collection_info``);
- it searches unflushed data by brute force: flush before indexing.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException
from tqdm import tqdm

from components.data.columns import AVAILABLE, CATEGORIES, ITEM_ID
from components.retrieval.info import (
    P_ALIAS,
    P_CREATED_AT,
    P_INDEX,
    P_INDEX_PARAMS,
    P_INDEX_REQUESTED,
    P_METRIC,
    P_NOTES,
    P_ROWS,
    P_RUN_ID,
    P_SEARCH_PARAMS,
    P_SHARDS,
    P_SHARDS_REQUESTED,
    alias_target,
    collection_info,
    row_count,
)
from components.retrieval.schema import (
    EMBEDDING,
    PRIMARY_CATEGORY,
    category_columns,
    collection_schema,
)

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 255
INDEX_BUILD_TIMEOUT_S = 3600.0

INDEX_TYPES = frozenset({"FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW", "DISKANN", "AUTOINDEX"})
METRIC_TYPES = frozenset({"IP", "L2", "COSINE"})
# What to try when the server rejects an index type (Milvus Lite has no DISKANN or IVF_PQ).
FALLBACK_INDEX = {
    "DISKANN": "HNSW",
    "IVF_PQ": "IVF_SQ8",
    "IVF_SQ8": "FLAT",
    "IVF_FLAT": "FLAT",
    "HNSW": "FLAT",
    "AUTOINDEX": "FLAT",
}

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def sanitize_name(text: str) -> str:
    """Milvus names allow letters, digits and underscores: every other character becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _check_name(name: str, what: str) -> str:
    if not _NAME_RE.match(name) or len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{what} {name!r} is not a valid Milvus name (a letter or _ first, then letters, "
            f"digits, _; at most {MAX_NAME_LENGTH} characters)"
        )
    return name


def collection_name(alias: str, run_id: str) -> str:
    """``{alias}_{run_id}`` with the run id sanitised; the alias itself must already be valid."""
    _check_name(alias, "alias")
    run = sanitize_name(str(run_id))
    if not run:
        raise ValueError("run_id must not be empty")
    return _check_name(f"{alias}_{run}", "collection name")


def default_index_params(index_type: str, dim: int) -> dict[str, Any]:
    """Build parameters that are sensible for item catalogs of 1e3 to 1e6 items."""
    if index_type == "HNSW":
        return {"M": 16, "efConstruction": 200}
    if index_type in ("IVF_FLAT", "IVF_SQ8"):
        return {"nlist": 128}
    if index_type == "IVF_PQ":
        m = next(m for m in (dim // 4, dim // 2, dim) if m >= 1 and dim % m == 0)
        return {"nlist": 128, "m": m, "nbits": 8}
    return {}


def default_search_params(index_type: str) -> dict[str, Any]:
    if index_type == "HNSW":
        return {"ef": 64}
    if index_type in ("IVF_FLAT", "IVF_SQ8", "IVF_PQ"):
        return {"nprobe": 16}
    if index_type == "DISKANN":
        return {"search_list": 64}
    return {}


@dataclass
class IndexSpec:
    """What to build. ``index_params`` / ``search_params`` left as None get per-type defaults."""

    alias: str
    dim: int
    num_shards: int = 2
    index_type: str = "HNSW"
    metric_type: str = "IP"
    index_params: dict[str, Any] | None = None
    search_params: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        _check_name(self.alias, "alias")
        if int(self.dim) < 1:
            raise ValueError(f"dim must be >= 1, got {self.dim}")
        if int(self.num_shards) < 1:
            raise ValueError(f"num_shards must be >= 1, got {self.num_shards}")
        self.index_type = str(self.index_type).upper()
        if self.index_type not in INDEX_TYPES:
            raise ValueError(
                f"unknown index_type {self.index_type!r}; known: {', '.join(sorted(INDEX_TYPES))}"
            )
        self.metric_type = str(self.metric_type).upper()
        if self.metric_type not in METRIC_TYPES:
            known = ", ".join(sorted(METRIC_TYPES))
            raise ValueError(f"unknown metric_type {self.metric_type!r}; known: {known}")
        if self.index_params is None:
            self.index_params = default_index_params(self.index_type, self.dim)
        if self.search_params is None:
            self.search_params = default_search_params(self.index_type)


def create_collection_for_run(client: MilvusClient, spec: IndexSpec, run_id: str) -> str:
    """Create the empty collection ``{alias}_{run_id}``; returns its name. A leftover of the same
    name from a failed attempt is dropped first, unless the alias points at it."""
    name = collection_name(spec.alias, run_id)
    if client.has_collection(name):
        if alias_target(client, spec.alias) == name:
            raise ValueError(f"collection {name} is live behind alias {spec.alias}; use a new run")
        log.warning("dropping collection %s left by an earlier attempt of run %s", name, run_id)
        client.drop_collection(name)
    properties = {
        P_ALIAS: spec.alias,
        P_RUN_ID: str(run_id),
        P_CREATED_AT: f"{time.time():.6f}",
        P_METRIC: spec.metric_type,
        P_INDEX_REQUESTED: spec.index_type,
        P_SHARDS_REQUESTED: str(spec.num_shards),
    }
    client.create_collection(
        name, schema=collection_schema(spec.dim), num_shards=spec.num_shards, properties=properties
    )
    shards = int(client.describe_collection(name).get("num_shards", spec.num_shards))
    if shards != spec.num_shards:
        log.warning(
            "Milvus ignored num_shards=%d for %s (it has %d; Milvus Lite always has 1)",
            spec.num_shards,
            name,
            shards,
        )
    client.alter_collection_properties(name, {P_SHARDS: str(shards)})
    return name


def _validated_rows(
    item_ids: np.ndarray, vectors: np.ndarray, categories: Sequence[Any], available: Sequence[bool]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids = np.asarray(item_ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"item_ids must be a 1-D integer array, got {ids.dtype} {ids.shape}")
    ids = ids.astype(np.int64)
    vecs = np.asarray(vectors, dtype=np.float32)
    if vecs.ndim != 2 or len(vecs) != len(ids):
        raise ValueError(f"vectors must be ({len(ids)}, dim), got {vecs.shape}")
    if len(categories) != len(ids) or len(available) != len(ids):
        raise ValueError(
            f"{len(ids)} items but {len(categories)} categories and {len(available)} available"
        )
    if len(ids) == 0:
        raise ValueError("no items to index")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("item_ids must be unique (Milvus does not deduplicate primary keys)")
    if not np.isfinite(vecs).all():
        raise ValueError("vectors contain NaN or infinite values")
    return ids, vecs, np.asarray(available, dtype=bool)


def _rows(
    ids: np.ndarray, vecs: np.ndarray, primary: list, every: list, avail: np.ndarray
) -> list[dict[str, Any]]:
    return [
        {
            ITEM_ID: int(ids[j]),
            PRIMARY_CATEGORY: primary[j],
            CATEGORIES: every[j],
            AVAILABLE: bool(avail[j]),
            EMBEDDING: vecs[j],
        }
        for j in range(len(ids))
    ]


def insert_vectors(
    client: MilvusClient,
    collection: str,
    item_ids: np.ndarray,
    vectors: np.ndarray,
    categories: Sequence[Any],
    available: Sequence[bool],
    batch_size: int = 5000,
    progress: bool = True,
) -> int:
    """Insert rows in batches (with a progress bar); returns the number inserted."""
    ids, vecs, avail = _validated_rows(item_ids, vectors, categories, available)
    primary, every = category_columns(categories, ids)
    inserted = 0
    with tqdm(
        total=len(ids), unit="item", desc=f"insert {collection}", disable=not progress
    ) as bar:
        for start in range(0, len(ids), batch_size):
            stop = min(start + batch_size, len(ids))
            part = slice(start, stop)
            rows = _rows(ids[part], vecs[part], primary[part], every[part], avail[part])
            inserted += int(client.insert(collection, rows)["insert_count"])
            bar.update(stop - start)
    return inserted


def upsert_vectors(
    client: MilvusClient,
    collection: str,
    item_ids: np.ndarray,
    vectors: np.ndarray,
    categories: Sequence[Any],
    available: Sequence[bool],
) -> int:
    """Insert or replace rows of an existing collection (catalog updates: a new item, an item
    marked unavailable) without a rebuild; returns the number written."""
    ids, vecs, avail = _validated_rows(item_ids, vectors, categories, available)
    primary, every = category_columns(categories, ids)
    result = client.upsert(collection, _rows(ids, vecs, primary, every, avail))
    return int(result.get("upsert_count", len(ids)))


def _wait_for_index(
    client: MilvusClient, collection: str, timeout_s: float = INDEX_BUILD_TIMEOUT_S
) -> None:
    deadline, pause = time.monotonic() + timeout_s, 0.02
    while True:
        state = (client.describe_index(collection, EMBEDDING) or {}).get("state")
        if state == "Finished":
            return
        if state == "Failed":
            raise MilvusException(message=f"index build failed on {collection}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"index on {collection} not built after {timeout_s} s ({state})")
        time.sleep(pause)
        pause = min(pause * 2, 2.0)


def _fit_params(params: dict[str, Any], rows: int, notes: list[str]) -> dict[str, Any]:
    """IVF k-means wants ~39 rows per list: cap ``nlist`` on small catalogs (noted)."""
    nlist = params.get("nlist")
    if nlist is not None and int(nlist) > max(1, rows // 39):
        params = {**params, "nlist": max(1, rows // 39)}
        notes.append(f"nlist {nlist} -> {params['nlist']} for {rows} rows")
    return params


def _create_index(
    client: MilvusClient, collection: str, spec: IndexSpec, rows: int
) -> dict[str, Any]:
    """Build the vector index, falling back (logged, recorded) when the server rejects a type."""
    notes: list[str] = []
    index_type = spec.index_type
    params = _fit_params(dict(spec.index_params or {}), rows, notes)
    while True:
        index_params = MilvusClient.prepare_index_params()
        index_params.add_index(
            field_name=EMBEDDING,
            index_name=EMBEDDING,
            index_type=index_type,
            metric_type=spec.metric_type,
            params=params,
        )
        try:
            # sync=False: pymilvus' own wait calls an RPC Milvus Lite lacks (an ERROR log line)
            # and sleeps 0.5 s; we poll describe_index instead, which both servers answer.
            client.create_index(collection, index_params, sync=False)
            _wait_for_index(client, collection)
            break
        except MilvusException as err:
            fallback = FALLBACK_INDEX.get(index_type)
            if fallback is None:
                raise
            reason = str(getattr(err, "message", err))
            log.warning(
                "index %s rejected for %s (%s); falling back to %s",
                index_type,
                collection,
                reason,
                fallback,
            )
            notes.append(f"{index_type} rejected: {reason}; fell back to {fallback}")
            if EMBEDDING in (client.list_indexes(collection) or []):
                client.release_collection(collection)  # Lite loads new collections at once
                client.drop_index(collection, EMBEDDING)  # and keeps a failed index registered
            index_type = fallback
            params = _fit_params(default_index_params(fallback, spec.dim), rows, notes)
    search = (
        dict(spec.search_params or {})
        if index_type == spec.index_type
        else default_search_params(index_type)
    )
    return {
        "index_type": index_type,
        "index_params": params,
        "search_params": search,
        "notes": notes,
    }


def build_and_load(
    client: MilvusClient, spec: IndexSpec, collection: str, expected_rows: int
) -> dict[str, Any]:
    """Flush, index, load and count; record the effective settings on the collection.

    Raises RuntimeError when the loaded row count differs from ``expected_rows``, so a caller
    never moves an alias to an incomplete collection. Returns ``collection_info``.
    """
    client.flush(collection)  # sealed segments get the index; unsealed ones are brute-forced
    built = _create_index(client, collection, spec, expected_rows)
    client.load_collection(collection)
    rows = row_count(client, collection)
    if rows != expected_rows:
        raise RuntimeError(f"collection {collection} has {rows} rows, expected {expected_rows}")
    client.alter_collection_properties(
        collection,
        {
            P_INDEX: built["index_type"],
            P_INDEX_PARAMS: json.dumps(built["index_params"], sort_keys=True),
            P_SEARCH_PARAMS: json.dumps(built["search_params"], sort_keys=True),
            P_NOTES: json.dumps(built["notes"]),
            P_ROWS: str(rows),
        },
    )
    info = collection_info(client, collection)
    log.info("built %s: %s", collection, info)
    return info


def swap_alias(client: MilvusClient, alias: str, collection: str) -> str | None:
    """Point ``alias`` at ``collection`` in one atomic call; returns the previous target.

    The collection is loaded first so the alias never serves a released collection.
    """
    client.load_collection(collection)
    previous = alias_target(client, alias)
    if previous is None:
        client.create_alias(collection, alias)
    elif previous != collection:
        client.alter_alias(collection, alias)
    log.info("alias %s: %s -> %s", alias, previous, collection)
    return previous


def build_collection(
    client: MilvusClient,
    spec: IndexSpec,
    item_ids: np.ndarray,
    vectors: np.ndarray,
    categories: Sequence[Any],
    available: Sequence[bool],
    run_id: str,
    batch_size: int = 5000,
    progress: bool = True,
) -> str:
    """Create, fill, index, load and verify the run's collection without touching the alias
    (a promotion gate moves it later with ``swap_alias``); returns the collection name."""
    _, vecs, _ = _validated_rows(item_ids, vectors, categories, available)  # fail before creating
    if vecs.shape[1] != spec.dim:
        raise ValueError(f"vectors have dim {vecs.shape[1]}, the spec says {spec.dim}")
    name = create_collection_for_run(client, spec, run_id)
    insert_vectors(client, name, item_ids, vectors, categories, available, batch_size, progress)
    build_and_load(client, spec, name, expected_rows=len(item_ids))
    return name
