import numpy as np

from components.reranking.rerank import rerank


def test_rules_then_mmr_with_cap():
    ids = np.array([10, 11, 12, 13, 14, 15])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    categories = np.array(["A", "A", "A", "B", "B", "C"], dtype=object)
    out = rerank(
        ids,
        scores,
        k=3,
        categories=categories,
        seen=[10],
        exclude=[15],
        available=np.array([True, True, True, True, False, True]),
        mmr_lambda=1.0,
        category_cap=1,
    )
    assert ids[out.indices].tolist() == [11, 13, 12]  # 12 only once nothing else is left
    assert out.eligible == 3 and out.cap_relaxed


def test_answer_is_never_empty_while_an_eligible_item_exists():
    ids = np.array([1, 2, 3])
    out = rerank(ids, np.zeros(3), k=10, seen=[1, 2], mmr_lambda=0.5, category_cap=1)
    assert ids[out.indices].tolist() == [3]
    none = rerank(ids, np.zeros(3), k=10, seen=[1, 2, 3])
    assert none.indices.size == 0 and none.eligible == 0
