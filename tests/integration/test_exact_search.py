"""The in-replica exact search read from a real Milvus Lite collection answers what Milvus
answers (Lite searches a small collection exactly), filters included."""

from __future__ import annotations

import numpy as np
import pytest

from components.retrieval.build import IndexSpec, build_collection, swap_alias
from components.retrieval.client import milvus_client, release_milvus
from components.retrieval.exact import load_exact_index
from components.retrieval.filters import AVAILABLE_FILTER, and_filters, category_filter
from components.retrieval.search import search_items

pytestmark = pytest.mark.integration

N, DIM = 300, 16
GENRES = ["Action", "Comedy", "Drama"]


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("exact") / "milvus.db")
    client = milvus_client(uri)
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    ids = np.arange(N, dtype=np.int64) * 3 + 1
    categories = ["|".join(g for j, g in enumerate(GENRES) if (i >> j) & 1) for i in range(N)]
    available = [i % 4 != 0 for i in range(N)]
    spec = IndexSpec(alias="items", dim=DIM)
    name = build_collection(
        client, spec, ids, vectors, categories, available, "run-exact", progress=False
    )
    swap_alias(client, spec.alias, name)
    yield client, vectors
    release_milvus(client, uri)


def test_exact_search_equals_milvus_order_with_filters(collection):
    client, vectors = collection
    held = load_exact_index(client, "items", max_items=N)
    assert held is not None and len(held) == N
    assert load_exact_index(client, "items", max_items=N - 1) is None  # too large: Milvus
    assert load_exact_index(client, "items", max_items=0) is None
    queries = vectors[:5] + 0.1
    exclude = [{int(i)} for i in range(1, 6)]
    for categories in (None, ["Comedy"], ["Action", "Drama"]):
        wanted = category_filter(categories) if categories else None
        expected = search_items(
            client, "items", queries, 20, and_filters(AVAILABLE_FILTER, wanted), exclude
        )
        got = held.search(queries, 20, categories, exclude)
        assert [[i for i, _ in row] for row in got] == [[i for i, _ in row] for row in expected]
        for row, other in zip(got, expected, strict=True):
            assert [s for _, s in row] == pytest.approx([s for _, s in other], rel=1e-4)
