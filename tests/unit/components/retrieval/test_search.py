"""Search: hit handling and input checks, before any Milvus call (client None)."""

from __future__ import annotations

import numpy as np
import pytest

from components.retrieval.search import collect_hits, search_items


def test_collect_hits_drops_excluded_and_cuts_at_k():
    raw = [
        [
            {"item_id": 5, "distance": 0.9},
            {"item_id": 6, "distance": 0.8},
            {"item_id": 7, "distance": 0.7},
        ],
        [{"id": 8, "distance": 0.5}, {"id": 9, "distance": 0.4}],
    ]
    assert collect_hits(raw, 2, [{5}, set()]) == [[(6, 0.8), (7, 0.7)], [(8, 0.5), (9, 0.4)]]
    assert collect_hits(raw, 1) == [[(5, 0.9)], [(8, 0.5)]]


def test_search_items_validates_inputs_before_calling_milvus():
    vectors = np.ones((2, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="k must be"):
        search_items(None, "items", vectors, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exclude has 1 sets for 2 queries"):
        search_items(None, "items", vectors, 3, exclude=[set()])  # type: ignore[arg-type]
    assert search_items(None, "items", np.ones((0, 4)), 3) == []  # type: ignore[arg-type]
