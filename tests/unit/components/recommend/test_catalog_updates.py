"""Catalog updates: validated items, the update log, the merged catalog and sources."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from components.data.columns import AVAILABLE, ITEM_ID
from components.recommend.catalog import (
    CatalogItem,
    append_catalog_updates,
    catalog_frame,
    read_catalog_updates,
    updates_signature,
)
from components.recommend.sources import CandidateSources
from components.recommend.tables import build_serving_tables


def test_items_are_validated_and_categories_split():
    item = CatalogItem.model_validate({"item_id": 5, "categories": "A|B"})
    assert item.categories == ["A", "B"] and item.available is None and item.title is None
    for bad in (
        {"item_id": 0},
        {"item_id": 5, "categories": ["A|B"]},
        {"item_id": 5, "categories": ["x" * 300]},
        {"item_id": 5, "price": 3},
        {"item_id": "a sku"},  # a space: not a string id
        {"item_id": 2**63},
        {"item_id": 5.0},
    ):
        with pytest.raises(ValidationError):
            CatalogItem.model_validate(bad)


def test_the_log_keeps_the_latest_row_per_item_and_its_signature_moves(tmp_path):
    assert updates_signature(tmp_path / "none") == "0"
    first = catalog_frame([CatalogItem(item_id=100, title="new", categories=["A"])])
    append_catalog_updates(tmp_path, first)
    before = updates_signature(tmp_path)
    append_catalog_updates(
        tmp_path,
        catalog_frame(
            [CatalogItem(item_id=100, title="new", available=False), CatalogItem(item_id=3)]
        ),
    )
    signature, frame = read_catalog_updates(tmp_path)
    assert signature != before and signature == updates_signature(tmp_path)
    latest = frame.set_index(ITEM_ID)
    assert sorted(latest.index) == [3, 100] and not latest.loc[100, AVAILABLE]
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_merged_catalog_adds_new_items_and_replaces_known_ones(interactions, items):
    sources = CandidateSources.from_tables(build_serving_tables(interactions, items))
    update = catalog_frame(
        [
            CatalogItem(item_id=100, title="brand new", categories=["A", "C"]),
            CatalogItem(item_id=4, available=False),  # only availability changes
        ]
    )
    merged = sources.with_catalog(sources.catalog.updated(update))
    assert merged.catalog.title(4) == "Item 4" and merged.catalog.categories_of([4]) == [["B"]]
    assert merged.catalog.contains([100, 1]).all() and len(merged.catalog) == len(items) + 1
    assert merged.catalog.title(100) == "brand new"
    assert merged.catalog.is_available([100, 4]).tolist() == [True, False]
    assert 100 in merged.popular(50, ["C"]).ids  # joins popularity (last: no events yet)
    assert merged.popular(50).ids[-1] == 100
    assert 4 not in merged.popular(50).ids and 4 in sources.popular(50).ids
    np.testing.assert_array_equal(merged.seen_items(2), sources.seen_items(2))
    assert not sources.catalog.contains([100])[0]  # the old sources are unchanged
