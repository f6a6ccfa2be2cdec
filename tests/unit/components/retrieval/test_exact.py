"""Exact in-memory search: the brute-force order, Milvus' filters, per-query excludes."""

from __future__ import annotations

import numpy as np
import pytest

from components.retrieval.exact import ExactIndex

N, DIM = 50, 8


@pytest.fixture
def index() -> tuple[ExactIndex, np.ndarray]:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    ids = np.arange(N, dtype=np.int64) * 10 + 7  # ids are not row numbers
    categories = [["A"] if i % 2 else ["B", "C"] for i in range(N)]
    available = np.arange(N) % 5 != 0
    return ExactIndex.from_rows(ids, vectors, categories, available), vectors


def test_answers_the_brute_force_order_of_available_items(index):
    held, vectors = index
    queries = np.random.default_rng(1).normal(size=(3, DIM)).astype(np.float32)
    hits = held.search(queries, 10, None, [set(), set(), set()])
    for q, row in enumerate(hits):
        scores = vectors @ queries[q]
        order = [i for i in np.argsort(-scores) if i % 5 != 0][:10]
        assert [h[0] for h in row] == [int(held.ids[i]) for i in order]
        assert [h[1] for h in row] == pytest.approx([float(scores[i]) for i in order], rel=1e-5)


def test_categories_and_each_querys_excludes(index):
    held, vectors = index
    query = vectors[:2]
    everything = held.search(query, N, ["C"], [set(), set()])
    allowed = {int(held.ids[i]) for i in range(N) if i % 2 == 0 and i % 5 != 0}
    assert {h[0] for h in everything[0]} == allowed == {h[0] for h in everything[1]}
    best = everything[0][0][0]
    hits = held.search(query, 3, ["C"], [{best}, set()])
    assert best not in [h[0] for h in hits[0]] and len(hits[0]) == 3  # still k after excluding
    assert hits[1][0][0] == everything[1][0][0]
    assert held.search(query, 3, ["unknown"], [set(), set()]) == [[], []]


def test_cosine_normalises_and_exclude_must_match_the_queries():
    vectors = np.asarray([[1.0, 0.0], [10.0, 10.0], [0.0, 2.0]], dtype=np.float32)
    held = ExactIndex.from_rows([1, 2, 3], vectors, [[], [], []], [True] * 3, metric="COSINE")
    (((first, score), *_),) = held.search(np.asarray([[1.0, 0.9]]), 3, None, [set()])
    assert first == 2 and score == pytest.approx(1.9 / np.sqrt(2), rel=1e-5)
    inner = ExactIndex.from_rows([1, 2, 3], vectors, [[], [], []], [True] * 3)
    assert inner.search(np.asarray([[0.0, 1.0]]), 1, None, [set()])[0][0][0] == 2
    with pytest.raises(ValueError, match="exclude has 1 sets for 2 queries"):
        held.search(np.ones((2, 2)), 1, None, [set()])


def test_an_upsert_adds_new_rows_and_replaces_known_ones_as_milvus_does():
    from components.retrieval.exact import exact_search, held_index

    vectors = np.asarray([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    held = ExactIndex.from_rows([1, 2], vectors, [["A"], ["B"]], [True, True])
    new = held.upserted(
        [3, 2], np.asarray([[5.0, 5.0], [0.0, 9.0]]), [["A", "B"], ["C"]], [True, False]
    )
    assert sorted(new.ids.tolist()) == [1, 2, 3] and len(held) == 2  # the old one unchanged
    hits = new.search(np.asarray([[0.0, 1.0]]), 3, None, [set()])[0]
    assert [i for i, _ in hits] == [3, 1]  # 2 is unavailable now
    assert [i for i, _ in new.search(np.asarray([[1.0, 1.0]]), 3, ["B"], [set()])[0]] == [3]
    assert new.search(np.asarray([[1.0, 1.0]]), 3, ["C"], [set()]) == [[]]  # 2: unavailable
    assert held_index(exact_search(new)) is new and held_index(lambda *a: []) is None
