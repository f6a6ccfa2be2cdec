"""How a catalog cell fills the collection's category fields."""

from __future__ import annotations

import numpy as np
import pytest

from components.retrieval.schema import category_columns


def test_category_columns_primary_is_first_and_limits_are_checked():
    primary, every = category_columns(["Action|Comedy", ""], np.array([1, 2]))
    assert primary == ["Action", ""] and every == [["Action", "Comedy"], []]
    with pytest.raises(ValueError, match="categories"):
        category_columns(["|".join(f"c{i}" for i in range(65))], np.array([1]))
    with pytest.raises(ValueError, match="longer than"):
        category_columns(["x" * 300], np.array([1]))
