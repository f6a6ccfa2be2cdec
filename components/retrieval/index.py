"""The Milvus item-embedding index: one collection per training run, served through an alias.

Why this shape: serving only ever searches the alias (e.g. ``reco_items``). A training run
builds a NEW collection ``{alias}_{run_id}``: insert, flush, index, load, count; only when the
count matches does the alias move, in one atomic ``alter_alias`` call. A search never sees a
half-built index, rollback is moving the alias back, and old collections stay until
``drop_stale_collections`` removes them.

Schema (one row per item):

- ``item_id``    INT64, primary key
- ``category``   VARCHAR(256): the item's primary (first) category, "" when it has none
- ``categories`` ARRAY<VARCHAR(256)>, at most 64: all of the item's categories, so that
  ``category_filter(["Comedy"])`` also finds "Action|Comedy" (``array_contains_any``);
  ``category_filter(..., primary_only=True)`` matches on ``category`` alone
- ``available``  BOOL (``AVAILABLE_FILTER`` keeps in-stock items only)
- ``embedding``  FLOAT_VECTOR(dim)

What Milvus Lite (milvus-lite 3.2.x: an in-process, pure-Python gRPC server over faiss) does
differently from a Milvus server, as measured with pymilvus 3.0.2:

- it ignores ``num_shards`` (``describe_collection`` reports 1);
- it has no DISKANN and no IVF_PQ (rejected at ``create_index``); FLAT is brute force and
  AUTOINDEX is HNSW. A rejected index type falls back (DISKANN -> HNSW, IVF_PQ -> IVF_SQ8,
  anything else -> FLAT) with a logged warning;
- it keeps no collection description, so the facts live in collection properties
  (``collection_info``): requested and effective index type, index and search parameters,
  shard count, run id, alias, creation time;
- it forgets the load state when the process ends: reads here load once on demand;
- it lets you drop a collection an alias points at (a server refuses), so
  ``drop_stale_collections`` checks aliases itself;
- one process at a time holds the ``.db`` folder (an advisory lock kept until the process ends
  or ``release_milvus``);
- it searches unflushed data by brute force, and a search call costs time in proportion to the
  collection size: flush before indexing, and put many query vectors in one search call.
- a search with empty ``output_fields`` returns every field, vectors included: we ask for
  ``item_id`` only;
- a filter is evaluated once per call in Python: ``array_contains_any`` on ``categories`` cost
  ~130-150 ms per call at 10k items (``category in [...]``, ``available == true`` ~6 ms, the
  same as no filter); scalar INVERTED indexes did not help and ARRAY fields cannot have one.

Measured on 2 CPU cores, 10k items, dim 64, HNSW: 100 queries in one call ~45-55 ms, 100 single
calls ~590 ms; at 100k items ~72 ms vs ~4.2 s. Hence one ``search_items`` call for many queries.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException
from tqdm import tqdm

from components.data.columns import AVAILABLE, CATEGORIES, ITEM_ID
from components.data.contract import split_categories

log = logging.getLogger(__name__)

PRIMARY_CATEGORY = "category"
EMBEDDING = "embedding"
CATEGORY_MAX_LENGTH = 256
MAX_CATEGORIES = 64
MAX_NAME_LENGTH = 255
MAX_TOPK = 16384  # Milvus caps `limit` per search
MAX_QUERIES_PER_CALL = 4096  # keeps one request and its answer well under gRPC message limits
INDEX_BUILD_TIMEOUT_S = 3600.0
AVAILABLE_FILTER = f"{AVAILABLE} == true"

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
_PREFIX = "reco."
P_ALIAS = _PREFIX + "alias"
P_RUN_ID = _PREFIX + "run_id"
P_CREATED_AT = _PREFIX + "created_at"
P_METRIC = _PREFIX + "metric_type"
P_INDEX_REQUESTED = _PREFIX + "index_type.requested"
P_INDEX = _PREFIX + "index_type"
P_INDEX_PARAMS = _PREFIX + "index_params"
P_SEARCH_PARAMS = _PREFIX + "search_params"
P_SHARDS_REQUESTED = _PREFIX + "num_shards.requested"
P_SHARDS = _PREFIX + "num_shards"
P_ROWS = _PREFIX + "rows"
P_NOTES = _PREFIX + "notes"

T = TypeVar("T")


# --- client ----------------------------------------------------------------------------------


def is_lite_uri(uri: str) -> bool:
    """True for a Milvus Lite file (``*.db``), False for a server (``http(s)://``)."""
    if uri.startswith(("http://", "https://")):
        return False
    if uri.endswith(".db"):
        return True
    raise ValueError(f"Milvus URI must be a path ending in .db or an http(s):// address: {uri!r}")


def milvus_client(uri: str, token: str | None = None) -> MilvusClient:
    """The one place a MilvusClient is made: a ``.db`` path is Milvus Lite, http(s) a server."""
    if is_lite_uri(uri):
        path = Path(uri).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return MilvusClient(uri=str(path))
    return MilvusClient(uri=uri, token=token or "")


def release_milvus(client: MilvusClient, uri: str) -> None:
    """Close the client; for Milvus Lite also stop its in-process server and free the file lock,
    so another process (serving, the next pipeline step) can open the same ``.db``."""
    client.close()
    if is_lite_uri(uri):
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(Path(uri).expanduser().resolve()))


# --- names, spec, filters (pure) ---------------------------------------------------------------


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


def quote_string(value: str) -> str:
    """A Milvus filter string literal: double quotes, with backslash, quote, \\n, \\r, \\t escaped.
    Other control characters have no escape in the filter grammar and are refused."""
    if any(ord(ch) < 32 and ch not in "\n\r\t" or ord(ch) == 127 for ch in value):
        raise ValueError(f"control character in filter value {value!r}")
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def category_filter(categories: Iterable[str], primary_only: bool = False) -> str:
    """Items carrying any of ``categories`` (or, with ``primary_only``, whose first category is
    one of them). Values are quoted, so user input cannot change the expression."""
    values = [str(c) for c in categories]
    if not values:
        raise ValueError("category_filter needs at least one category")
    listed = "[" + ", ".join(quote_string(v) for v in values) + "]"
    if primary_only:
        return f"{PRIMARY_CATEGORY} in {listed}"
    return f"array_contains_any({CATEGORIES}, {listed})"


def and_filters(*expressions: str | None) -> str | None:
    """Join filter expressions with ``and`` (None and "" are skipped); None when nothing is left."""
    parts = [f"({e})" for e in expressions if e]
    return " and ".join(parts) if parts else None


def category_columns(categories: Sequence[Any], item_ids: np.ndarray) -> tuple[list, list]:
    """(primary category, all categories) per item, checked against the schema's limits."""
    primary, every = [], []
    for item_id, value in zip(item_ids, categories, strict=True):
        cats = split_categories(value)
        if len(cats) > MAX_CATEGORIES:
            raise ValueError(f"item {item_id} has {len(cats)} categories (max {MAX_CATEGORIES})")
        too_long = [c for c in cats if len(c.encode()) > CATEGORY_MAX_LENGTH]
        if too_long:
            raise ValueError(
                f"item {item_id}: category longer than {CATEGORY_MAX_LENGTH} bytes: {too_long[0]!r}"
            )
        primary.append(cats[0] if cats else "")
        every.append(cats)
    return primary, every


def collect_hits(
    raw: Sequence[Sequence[Any]], k: int, exclude: Sequence[set[int]] | None = None
) -> list[list[tuple[int, float]]]:
    """Milvus hits -> (item_id, score) lists, dropping excluded ids and cutting at ``k``."""
    results = []
    for row, hits in enumerate(raw):
        banned = exclude[row] if exclude is not None else set()
        kept: list[tuple[int, float]] = []
        for hit in hits:
            item = int(hit[ITEM_ID] if ITEM_ID in hit else hit["id"])
            if item in banned:
                continue
            kept.append((item, float(hit["distance"])))
            if len(kept) == k:
                break
        results.append(kept)
    return results


def select_stale(
    collections: Sequence[tuple[str, float]], target: str | None, keep: int
) -> list[str]:
    """Names to drop: all but the ``keep`` newest (by creation time) and the alias target."""
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    newest_first = [n for n, _ in sorted(collections, key=lambda c: (c[1], c[0]), reverse=True)]
    survivors = set(newest_first[:keep]) | ({target} if target else set())
    return [n for n in newest_first if n not in survivors]


# --- reading ---------------------------------------------------------------------------------


def _is_not_loaded(err: MilvusException) -> bool:
    message = str(getattr(err, "message", err)).lower()
    return getattr(err, "code", None) == 101 or "not loaded" in message or "released" in message


def _loaded(client: MilvusClient, name: str, call: Callable[[], T]) -> T:
    """Run a read; if the collection is not loaded (a fresh Milvus Lite process), load it once
    and retry."""
    try:
        return call()
    except MilvusException as err:
        if not _is_not_loaded(err):
            raise
        log.info("loading collection %s on first use", name)
        client.load_collection(name)
        return call()


def alias_target(client: MilvusClient, alias: str) -> str | None:
    """The collection an alias points at, or None when the alias does not exist."""
    listed = client.list_aliases()
    names = listed.get("aliases", []) if isinstance(listed, dict) else list(listed)
    if alias not in names:
        return None
    return client.describe_alias(alias).get("collection_name")


def _properties(client: MilvusClient, name: str) -> dict[str, str]:
    return dict(client.describe_collection(name).get("properties") or {})


def collection_info(client: MilvusClient, name: str) -> dict[str, Any]:
    """The facts recorded on a collection (or an alias' collection): requested vs effective index
    type and shard count, parameters, run id, row count. Serving reads ``search_params`` here."""
    described = client.describe_collection(name)
    info: dict[str, Any] = {"collection": described.get("collection_name", name)}
    for key, value in (described.get("properties") or {}).items():
        if not key.startswith(_PREFIX):
            continue
        short = key[len(_PREFIX) :]
        if key in (P_INDEX_PARAMS, P_SEARCH_PARAMS, P_NOTES):
            value = json.loads(value)
        elif key in (P_SHARDS, P_SHARDS_REQUESTED, P_ROWS):
            value = int(value)
        info[short] = value
    return info


def collection_count(client: MilvusClient, alias: str) -> int:
    """Rows in the collection behind an alias (or a collection name); 0 when it does not exist."""
    if not client.has_collection(alias):
        return 0
    return _count(client, alias)


def _count(client: MilvusClient, name: str) -> int:
    rows = _loaded(
        client,
        name,
        lambda: client.query(
            name, filter="", output_fields=["count(*)"], consistency_level="Strong"
        ),
    )
    return int(rows[0]["count(*)"])


def item_vectors(
    client: MilvusClient, alias: str, item_ids: Iterable[int], chunk: int = 1000
) -> dict[int, np.ndarray]:
    """Stored embeddings by item id (ids not in the index are absent), e.g. for /similar."""
    ids = [int(i) for i in item_ids]
    found: dict[int, np.ndarray] = {}
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        rows = _loaded(
            client, alias, lambda part=part: client.get(alias, ids=part, output_fields=[EMBEDDING])
        )
        for row in rows:
            found[int(row[ITEM_ID])] = np.asarray(row[EMBEDDING], dtype=np.float32)
    return found


def search_items(
    client: MilvusClient,
    alias: str,
    vectors: np.ndarray,
    k: int,
    filter_expr: str | None = None,
    exclude: Sequence[set[int]] | None = None,
    search_params: dict[str, Any] | None = None,
) -> list[list[tuple[int, float]]]:
    """Top-``k`` (item_id, score) per query vector, best first, in ONE search call for all
    queries (up to MAX_QUERIES_PER_CALL per call): a Milvus Lite call costs time in proportion
    to the collection size, whatever the number of queries.

    ``exclude[i]`` holds ids to drop from query i's answer (e.g. items the user has seen); we
    over-fetch by the largest exclude set so each query can still return ``k``, up to Milvus'
    limit of MAX_TOPK. ``filter_expr`` applies to every query (``AVAILABLE_FILTER``,
    ``category_filter``, combined with ``and_filters``). ``search_params`` default to Milvus'
    own; pass ``collection_info(...)["search_params"]`` for the values recorded at build time.
    """
    queries = np.asarray(vectors, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None, :]
    if queries.ndim != 2:
        raise ValueError(f"vectors must be 2-D (queries x dim), got shape {queries.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if exclude is not None and len(exclude) != len(queries):
        raise ValueError(f"exclude has {len(exclude)} sets for {len(queries)} queries")
    if len(queries) == 0:
        return []
    extra = max((len(e) for e in exclude), default=0) if exclude is not None else 0
    limit = min(k + extra, MAX_TOPK)
    params = dict(search_params or {})
    for key in ("ef", "search_list"):  # HNSW / DISKANN need a candidate list >= limit
        if key in params:
            params[key] = max(int(params[key]), limit)
    results: list[list[tuple[int, float]]] = []
    for start in range(0, len(queries), MAX_QUERIES_PER_CALL):
        chunk = queries[start : start + MAX_QUERIES_PER_CALL]
        raw = _loaded(
            client,
            alias,
            lambda chunk=chunk: client.search(
                alias,
                data=chunk,
                limit=limit,
                filter=filter_expr or "",
                output_fields=[ITEM_ID],
                search_params={"params": params},
                anns_field=EMBEDDING,
            ),
        )
        part = exclude[start : start + len(chunk)] if exclude is not None else None
        results.extend(collect_hits(raw, k, part))
    return results


# --- building --------------------------------------------------------------------------------


def _schema(dim: int) -> Any:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(ITEM_ID, DataType.INT64, is_primary=True)
    schema.add_field(PRIMARY_CATEGORY, DataType.VARCHAR, max_length=CATEGORY_MAX_LENGTH)
    schema.add_field(
        CATEGORIES,
        DataType.ARRAY,
        element_type=DataType.VARCHAR,
        max_capacity=MAX_CATEGORIES,
        max_length=CATEGORY_MAX_LENGTH,
    )
    schema.add_field(AVAILABLE, DataType.BOOL)
    schema.add_field(EMBEDDING, DataType.FLOAT_VECTOR, dim=dim)
    return schema


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
        name, schema=_schema(spec.dim), num_shards=spec.num_shards, properties=properties
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
            rows = [
                {
                    ITEM_ID: int(ids[j]),
                    PRIMARY_CATEGORY: primary[j],
                    CATEGORIES: every[j],
                    AVAILABLE: bool(avail[j]),
                    EMBEDDING: vecs[j],
                }
                for j in range(start, stop)
            ]
            inserted += int(client.insert(collection, rows)["insert_count"])
            bar.update(stop - start)
    return inserted


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
    rows = _count(client, collection)
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


def publish_item_embeddings(
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
    """``build_collection`` then ``swap_alias``: searches through the alias move from the old
    collection to the new one at a single point, after the new one is complete."""
    name = build_collection(
        client, spec, item_ids, vectors, categories, available, run_id, batch_size, progress
    )
    swap_alias(client, spec.alias, name)
    return name


def drop_stale_collections(client: MilvusClient, alias: str, keep: int = 2) -> list[str]:
    """Drop this alias' old run collections, keeping the ``keep`` newest and whatever the alias
    (or any other alias) points at; returns the dropped names.

    Only collections recorded as built for ``alias`` count, so ``reco_items_v2_*`` is safe from
    a clean-up of ``reco_items``. Dropping an aliased collection is refused by a Milvus server
    but silently allowed by Milvus Lite, hence the explicit check.
    """
    target = alias_target(client, alias)
    ours = []
    for name in client.list_collections():
        if not name.startswith(f"{alias}_"):
            continue
        props = _properties(client, name)
        if props.get(P_ALIAS) != alias:
            continue
        ours.append((name, float(props.get(P_CREATED_AT, 0.0))))
    dropped = []
    for name in select_stale(ours, target, keep):
        listed = client.list_aliases(collection_name=name)
        aliases = listed.get("aliases", []) if isinstance(listed, dict) else list(listed)
        if aliases:
            log.warning("not dropping %s: aliases %s point at it", name, aliases)
            continue
        client.drop_collection(name)
        dropped.append(name)
    if dropped:
        log.info("dropped stale collections of %s: %s", alias, dropped)
    return dropped
