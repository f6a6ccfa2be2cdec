"""What a collection says about itself: the facts recorded on it at build time, its row count,
and where an alias points.

Milvus Lite keeps no collection description, so the facts live in collection properties under
``reco.``: requested and effective index type, index and search parameters, shard count, run
id, alias, creation time. Serving reads ``search_params`` here.
"""

from __future__ import annotations

import json
from typing import Any

from pymilvus import MilvusClient

from components.retrieval.client import read_loaded

PREFIX = "reco."
P_ALIAS = PREFIX + "alias"
P_RUN_ID = PREFIX + "run_id"
P_CREATED_AT = PREFIX + "created_at"
P_METRIC = PREFIX + "metric_type"
P_INDEX_REQUESTED = PREFIX + "index_type.requested"
P_INDEX = PREFIX + "index_type"
P_INDEX_PARAMS = PREFIX + "index_params"
P_SEARCH_PARAMS = PREFIX + "search_params"
P_SHARDS_REQUESTED = PREFIX + "num_shards.requested"
P_SHARDS = PREFIX + "num_shards"
P_ROWS = PREFIX + "rows"
P_NOTES = PREFIX + "notes"


def alias_target(client: MilvusClient, alias: str) -> str | None:
    """The collection an alias points at, or None when the alias does not exist."""
    listed = client.list_aliases()
    names = listed.get("aliases", []) if isinstance(listed, dict) else list(listed)
    if alias not in names:
        return None
    return client.describe_alias(alias).get("collection_name")


def collection_properties(client: MilvusClient, name: str) -> dict[str, str]:
    return dict(client.describe_collection(name).get("properties") or {})


def collection_info(client: MilvusClient, name: str) -> dict[str, Any]:
    """The facts recorded on a collection (or an alias' collection): requested vs effective index
    type and shard count, parameters, run id, row count. Serving reads ``search_params`` here."""
    described = client.describe_collection(name)
    info: dict[str, Any] = {"collection": described.get("collection_name", name)}
    for key, value in (described.get("properties") or {}).items():
        if not key.startswith(PREFIX):
            continue
        short = key[len(PREFIX) :]
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
    return row_count(client, alias)


def row_count(client: MilvusClient, name: str) -> int:
    """Rows in an existing collection, counted with strong consistency (loads it if need be)."""
    rows = read_loaded(
        client,
        name,
        lambda: client.query(
            name, filter="", output_fields=["count(*)"], consistency_level="Strong"
        ),
    )
    return int(rows[0]["count(*)"])
