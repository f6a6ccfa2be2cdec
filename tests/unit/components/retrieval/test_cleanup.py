"""Which old run collections a clean-up drops."""

from __future__ import annotations

import pytest

from components.retrieval.cleanup import select_stale


def test_select_stale_keeps_newest_and_alias_target():
    cols = [("i_a", 1.0), ("i_b", 2.0), ("i_c", 3.0), ("i_d", 4.0)]
    assert select_stale(cols, target="i_a", keep=2) == ["i_b"]
    assert select_stale(cols, target="i_d", keep=2) == ["i_b", "i_a"]
    assert select_stale(cols, target="i_b", keep=0) == ["i_d", "i_c", "i_a"]
    assert select_stale(cols, target=None, keep=10) == []
    with pytest.raises(ValueError, match="keep"):
        select_stale(cols, target=None, keep=-1)
