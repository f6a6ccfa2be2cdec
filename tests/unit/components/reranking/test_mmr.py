import numpy as np
import pytest

from components.reranking.mmr import cosine_matrix, mmr, scale


def test_scale_limits():
    assert scale(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert scale(np.array([5.0, 5.0])).tolist() == [1.0, 1.0]
    assert np.allclose(np.diag(cosine_matrix(np.array([[3.0, 4.0], [0.0, 0.0]]))), [1.0, 0.0])


def test_lambda_one_is_the_ranker_order_and_lower_lambda_diversifies():
    relevance = np.array([1.0, 0.99, 0.5])
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # 0 and 1 are duplicates
    assert mmr(relevance, vectors, 3, 1.0)[0].tolist() == [0, 1, 2]
    assert mmr(relevance, vectors, 2, 0.5)[0].tolist() == [0, 2]
    assert mmr(relevance, None, 2, 0.3)[0].tolist() == [0, 1]  # no vectors: relevance order


def test_cap_holds_while_possible_and_yields_only_to_fill_k():
    relevance = np.array([0.9, 0.8, 0.7, 0.1])
    groups = np.array(["A", "A", "A", "B"], dtype=object)
    picks, relaxed = mmr(relevance, None, 3, 1.0, groups=groups, cap=2)
    assert picks.tolist() == [0, 1, 3] and not relaxed
    picks, relaxed = mmr(relevance, None, 4, 1.0, groups=groups, cap=2)
    assert picks.tolist() == [0, 1, 3, 2] and relaxed


def test_cap_counts_per_group_and_never_caps_items_without_a_category():
    relevance = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    groups = np.array(["A", "A", "B", "A", "", ""], dtype=object)
    picks, relaxed = mmr(relevance, None, 5, 1.0, groups=groups, cap=2)
    assert picks.tolist() == [0, 1, 2, 4, 5] and not relaxed
    picks, relaxed = mmr(relevance, None, 6, 1.0, groups=groups, cap=None)
    assert picks.tolist() == [0, 1, 2, 3, 4, 5] and not relaxed
    picks, relaxed = mmr(np.ones(3), None, 3, 1.0, groups=np.array(["", "", ""]), cap=1)
    assert picks.tolist() == [0, 1, 2] and not relaxed


def test_edge_cases():
    assert mmr(np.array([]), None, 5, 0.5)[0].size == 0
    assert mmr(np.array([1.0]), None, 0, 0.5)[0].size == 0
    with pytest.raises(ValueError):
        mmr(np.array([1.0]), None, 1, 1.5)
