"""The item collection's fields, one row per item, and how a catalog cell becomes them.

- ``item_id``    INT64, primary key
- ``category``   VARCHAR(256): the item's primary (first) category, "" when it has none
- ``categories`` ARRAY<VARCHAR(256)>, at most 64: all of the item's categories, so that
  ``category_filter(["Comedy"])`` also finds "Action|Comedy" (``array_contains_any``);
  ``category_filter(..., primary_only=True)`` matches on ``category`` alone
- ``available``  BOOL (``AVAILABLE_FILTER`` keeps in-stock items only)
- ``embedding``  FLOAT_VECTOR(dim)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pymilvus import CollectionSchema, DataType, MilvusClient

from components.data.columns import AVAILABLE, CATEGORIES, ITEM_ID
from components.data.contract import split_categories

PRIMARY_CATEGORY = "category"
EMBEDDING = "embedding"
CATEGORY_MAX_LENGTH = 256
MAX_CATEGORIES = 64


def collection_schema(dim: int) -> CollectionSchema:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(ITEM_ID, DataType.INT64, is_primary=True)
    schema.add_field(PRIMARY_CATEGORY, DataType.VARCHAR, max_length=CATEGORY_MAX_LENGTH)
    schema.add_field(
        CATEGORIES,
        DataType.ARRAY,
        element_type=DataType.VARCHAR,
        max_capacity=MAX_CATEGORIES,
        max_length=CATEGORY_MAX_LENGTH,
    )
    schema.add_field(AVAILABLE, DataType.BOOL)
    schema.add_field(EMBEDDING, DataType.FLOAT_VECTOR, dim=dim)
    return schema


def category_columns(categories: Sequence[Any], item_ids: np.ndarray) -> tuple[list, list]:
    """(primary category, all categories) per item, checked against the schema's limits."""
    primary, every = [], []
    for item_id, value in zip(item_ids, categories, strict=True):
        cats = split_categories(value)
        if len(cats) > MAX_CATEGORIES:
            raise ValueError(f"item {item_id} has {len(cats)} categories (max {MAX_CATEGORIES})")
        too_long = [c for c in cats if len(c.encode()) > CATEGORY_MAX_LENGTH]
        if too_long:
            raise ValueError(
                f"item {item_id}: category longer than {CATEGORY_MAX_LENGTH} bytes: {too_long[0]!r}"
            )
        primary.append(cats[0] if cats else "")
        every.append(cats)
    return primary, every
