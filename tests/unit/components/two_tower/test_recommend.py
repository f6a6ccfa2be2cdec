import numpy as np
import pytest

from components.two_tower.recommend import recommend_two_tower, top_k_rows


class FixedVectors:
    """A stand-in retrieval with hand-set vectors, so the ranking is known in advance."""

    history_length = 20
    embedding_dim = 2

    def __init__(self):
        self.items = np.array([10, 20, 30, 40], dtype=np.int64)
        self.vectors = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0]], dtype=np.float32)

    def item_embeddings(self, item_ids=None):
        if item_ids is None:
            return self.items.copy(), self.vectors.copy()
        ids = np.asarray(item_ids, dtype=np.int64)
        return ids, self.vectors[np.searchsorted(self.items, ids)]

    def user_embeddings(self, user_ids, histories):
        # user 1 points at item 10, user 2 at item 30
        table = {1: [1.0, 0.0], 2: [0.0, 1.0]}
        return np.array([table[int(u)] for u in user_ids], dtype=np.float32)


def test_exact_top_k_with_exclusions():
    items, scores = recommend_two_tower(FixedVectors(), [1, 2], {}, k=2, exclude={1: {10}})
    assert items == {1: [20, 30], 2: [30, 20]}
    assert scores[1] == pytest.approx([0.8, 0.0])
    assert scores[2] == pytest.approx([1.0, 0.6])


def test_candidates_and_short_lists():
    items, _ = recommend_two_tower(
        FixedVectors(), [1], {}, k=10, exclude={1: {10, 99}}, candidate_items=np.array([40, 10])
    )
    assert items == {1: [40]}  # only what is left after exclusion; never an excluded item
    with pytest.raises(ValueError):
        recommend_two_tower(FixedVectors(), [1], {}, k=0)


def test_top_k_rows_orders_best_first_and_breaks_ties_by_column():
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [3.0, -np.inf, 1.0, 2.0]])
    top, values = top_k_rows(scores, 3)
    assert top.tolist() == [[1, 3, 2], [0, 3, 2]]
    assert values[1].tolist() == [3.0, 2.0, 1.0]
    assert top_k_rows(scores, 10)[0].shape == (2, 4)
