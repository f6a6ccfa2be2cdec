import numpy as np

from components.reranking.rules import eligible, first_occurrence, not_in, within_cap


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


def test_cap_counts_per_group_and_never_caps_items_without_a_category():
    groups = np.array(["A", "A", "B", "A", "", ""], dtype=object)
    assert within_cap(groups, 2).tolist() == [True, True, True, False, True, True]
    assert within_cap(groups, None).all()
