"""The item index on a real Milvus Lite file: publish, search, filters, alias swap, clean-up."""

from __future__ import annotations

import numpy as np
import pytest

from components.retrieval.build import (
    IndexSpec,
    build_and_load,
    build_collection,
    create_collection_for_run,
    insert_vectors,
    swap_alias,
)
from components.retrieval.cleanup import drop_stale_collections
from components.retrieval.client import milvus_client, release_milvus
from components.retrieval.filters import AVAILABLE_FILTER, and_filters, category_filter
from components.retrieval.info import alias_target, collection_count, collection_info
from components.retrieval.search import search_items

pytestmark = pytest.mark.integration

N, DIM = 1000, 16
GENRES = ["Action", "Comedy", "Drama", 'Sci "Fi" \\ odd']


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("milvus") / "nested" / "milvus.db")
    client = milvus_client(uri)  # creates the parent folder
    yield client
    release_milvus(client, uri)


def _catalog(seed: int, offset: int = 0):
    """Unit-norm vectors, so an item's own vector is its best inner-product match."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(N, dtype=np.int64) + 1 + offset
    categories = ["|".join(GENRES[j] for j in range(len(GENRES)) if (i >> j) & 1) for i in range(N)]
    available = [i % 3 != 0 for i in range(N)]
    return ids, vectors, categories, available


def publish(client, spec, ids, vectors, categories, available, run_id):
    """What a training run does: build the run's collection, then the gate moves the alias."""
    name = build_collection(
        client, spec, ids, vectors, categories, available, run_id, progress=False
    )
    swap_alias(client, spec.alias, name)
    return name


@pytest.fixture(scope="module")
def published(client):
    ids, vectors, categories, available = _catalog(seed=0)
    spec = IndexSpec(alias="items", dim=DIM)
    name = publish(client, spec, ids, vectors, categories, available, run_id="2024-01-01/a")
    return name, ids, vectors, categories, available


def test_publish_then_every_item_finds_itself_first(client, published):
    name, ids, vectors, _, _ = published
    assert name == "items_2024_01_01_a"
    assert alias_target(client, "items") == name
    assert collection_count(client, "items") == N
    hits = search_items(client, "items", vectors, k=3)  # one call, 1000 queries
    top1 = np.array([row[0][0] for row in hits])
    assert (top1 == ids).mean() >= 0.99
    assert all(len(row) == 3 and row[0][1] >= row[1][1] >= row[2][1] for row in hits)


def test_collection_records_requested_and_effective_settings(client, published):
    info = collection_info(client, "items")
    assert info["collection"] == published[0]
    assert info["index_type.requested"] == "HNSW" and info["index_type"] == "HNSW"
    assert info["num_shards.requested"] == 2
    assert info["num_shards"] == 1  # Milvus Lite ignores num_shards
    assert info["rows"] == N and info["search_params"] == {"ef": 64}


def test_filters_and_exclusions(client, published):
    _, ids, vectors, categories, available = published
    rows = zip(ids, categories, available, strict=True)
    by_id = {int(i): (c.split("|") if c else [], a) for i, c, a in rows}
    queries = vectors[:20]

    hits = search_items(client, "items", queries, k=10, filter_expr=AVAILABLE_FILTER)
    assert all(by_id[i][1] for row in hits for i, _ in row)
    assert all(len(row) == 10 for row in hits)

    odd = 'Sci "Fi" \\ odd'
    expr = and_filters(AVAILABLE_FILTER, category_filter([odd, "Drama"]))
    hits = search_items(client, "items", queries, k=10, filter_expr=expr)
    assert all(by_id[i][1] and {odd, "Drama"} & set(by_id[i][0]) for row in hits for i, _ in row)
    hits = search_items(
        client, "items", queries, k=10, filter_expr=category_filter(["Comedy"], primary_only=True)
    )
    assert all(by_id[i][0][:1] == ["Comedy"] for row in hits for i, _ in row)

    plain = search_items(client, "items", queries, k=5)
    exclude = [{i for i, _ in row[:3]} for row in plain]  # ban each query's own top 3
    hits = search_items(client, "items", queries, k=5, exclude=exclude)
    assert all(
        len(row) == 5 and not {i for i, _ in row} & ex
        for row, ex in zip(hits, exclude, strict=True)
    )
    assert [row[0] for row in hits] == [row[3] for row in plain]


def test_search_loads_a_released_collection_on_demand(client, published):
    """A fresh Milvus Lite process finds its collections released."""
    client.release_collection(published[0])
    hits = search_items(client, "items", published[2][:1], k=1)
    assert hits[0][0][0] == published[1][0]


def test_alias_moves_only_after_the_new_collection_is_complete(client):
    ids_a, vec_a, cats, avail = _catalog(seed=1)
    ids_b = ids_a + 100_000  # B holds other ids, so every answer tells which collection gave it
    spec = IndexSpec(alias="swap", dim=DIM)
    name_a = publish(client, spec, ids_a, vec_a, cats, avail, "A")

    def answered_by() -> set[str]:
        hits = search_items(client, "swap", vec_a[:50], k=5)
        return {"A" if i < 100_000 else "B" for row in hits for i, _ in row}

    name_b = create_collection_for_run(client, spec, "B")
    assert answered_by() == {"A"}
    insert_vectors(client, name_b, ids_b, vec_a, cats, avail, batch_size=300, progress=False)
    assert answered_by() == {"A"}
    info = build_and_load(client, spec, name_b, expected_rows=N)
    assert info["rows"] == N
    assert answered_by() == {"A"} and alias_target(client, "swap") == name_a

    assert swap_alias(client, "swap", name_b) == name_a
    assert answered_by() == {"B"} and alias_target(client, "swap") == name_b
    with pytest.raises(ValueError, match="live behind alias"):
        create_collection_for_run(client, spec, "B")


def test_drop_stale_collections_never_drops_what_an_alias_points_at(client):
    ids, vectors, cats, avail = _catalog(seed=2)
    small = slice(0, 100)
    spec = IndexSpec(alias="gc", dim=DIM, index_type="FLAT")
    other = IndexSpec(alias="gc_v2", dim=DIM, index_type="FLAT")  # shares the name prefix

    def build(s, run, aliased=False):
        if aliased:
            return publish(client, s, ids[small], vectors[small], cats[small], avail[small], run)
        return build_collection(
            client, s, ids[small], vectors[small], cats[small], avail[small], run, progress=False
        )

    old = build(spec, "r1")
    live = build(spec, "r2", aliased=True)
    pinned = build(spec, "r3")
    newer = build(spec, "r4")
    newest = build(spec, "r5")  # e.g. a challenger the gate did not promote
    foreign = build(other, "r1", aliased=True)
    client.create_alias(pinned, "gc_pinned")

    assert sorted(drop_stale_collections(client, "gc", keep=1)) == sorted([old, newer])
    remaining = set(client.list_collections())
    assert {live, pinned, newest, foreign} <= remaining and not {old, newer} & remaining

    client.drop_alias("gc_pinned")
    assert sorted(drop_stale_collections(client, "gc", keep=0)) == sorted([pinned, newest])
    assert alias_target(client, "gc") == live and collection_count(client, "gc") == 100
    assert foreign in client.list_collections()


def test_unsupported_index_type_falls_back_visibly(client):
    ids, vectors, cats, avail = _catalog(seed=3)
    spec = IndexSpec(alias="fallback", dim=DIM, index_type="DISKANN")
    name = build_collection(client, spec, ids, vectors, cats, avail, "r1", progress=False)
    info = collection_info(client, name)
    assert info["index_type.requested"] == "DISKANN"
    if info["index_type"] != "DISKANN":  # Milvus Lite has no DISKANN
        assert info["index_type"] == "HNSW" and "DISKANN rejected" in info["notes"][0]
    hits = search_items(client, name, vectors[:10], k=1, search_params=info["search_params"])
    assert [row[0][0] for row in hits] == list(ids[:10])
