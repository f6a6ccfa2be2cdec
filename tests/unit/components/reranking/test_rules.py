import numpy as np

from components.reranking.rules import eligible, first_occurrence, not_in


def test_each_rule_is_a_mask():
    ids = np.array([1, 2, 3, 2, 4])
    assert not_in(ids, [2]).tolist() == [True, False, True, False, True]
    assert first_occurrence(ids).tolist() == [True, True, True, False, True]
    mask = eligible(
        ids,
        seen=[1],
        exclude=np.array([4]),
        available=np.array([True, True, False, True, True]),
        allowed=np.array([True, True, True, True, True]),
    )
    assert mask.tolist() == [False, True, False, False, False]
    assert eligible(ids).tolist() == first_occurrence(ids).tolist()
