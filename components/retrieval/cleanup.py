"""Removing old run collections of an alias, never the one an alias points at.

Dropping an aliased collection is refused by a Milvus server but silently allowed by Milvus
Lite, hence the explicit check.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pymilvus import MilvusClient

from components.retrieval.info import P_ALIAS, P_CREATED_AT, alias_target, collection_properties

log = logging.getLogger(__name__)


def select_stale(
    collections: Sequence[tuple[str, float]], target: str | None, keep: int
) -> list[str]:
    """Names to drop: all but the ``keep`` newest (by creation time) and the alias target."""
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    newest_first = [n for n, _ in sorted(collections, key=lambda c: (c[1], c[0]), reverse=True)]
    survivors = set(newest_first[:keep]) | ({target} if target else set())
    return [n for n in newest_first if n not in survivors]


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
        props = collection_properties(client, name)
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
