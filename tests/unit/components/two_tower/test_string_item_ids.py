"""Training on a catalog named by SKUs: validation maps the strings to (negative) internal ids
and the two-tower learns them like any id (no id is assumed positive)."""

import numpy as np

from components.data.columns import EXTERNAL_ID, ITEM_ID
from components.data.item_ids import is_hashed
from components.data.validation import validate_dataset
from components.two_tower.export import TwoTowerRetrieval
from components.two_tower.history import recent_positive_items
from components.two_tower.recommend import recommend_two_tower
from components.two_tower.train import train_two_tower


def test_the_model_learns_a_catalog_named_by_skus(two_groups):
    interactions, items, users_a, users_b, items_a, items_b = two_groups
    sku = {i: f"SKU-{i:05d}" for i in items_a + items_b}
    interactions, items = validate_dataset(
        interactions.assign(**{ITEM_ID: interactions[ITEM_ID].map(sku)}),
        items.assign(**{ITEM_ID: items[ITEM_ID].map(sku)}),
        "skus",
    )
    assert all(map(is_hashed, items[ITEM_ID])) and set(items[EXTERNAL_ID]) == set(sku.values())
    internal = dict(zip(items[EXTERNAL_ID], items[ITEM_ID], strict=True))
    group_a = {internal[sku[i]] for i in items_a}
    group_b = {internal[sku[i]] for i in items_b}

    trained = train_two_tower(
        interactions, items, epochs=15, embedding_dim=16, batch_size=64, progress=False
    )
    retrieval = TwoTowerRetrieval.from_trained(trained)
    histories = recent_positive_items(interactions, retrieval.history_length)
    seen = interactions.groupby("user_id")["item_id"].agg(set).to_dict()
    recs, _ = recommend_two_tower(retrieval, users_a + users_b, histories, k=5, exclude=seen)
    share_a = np.mean([i in group_a for u in users_a for i in recs[u]])
    share_b = np.mean([i in group_b for u in users_b for i in recs[u]])
    assert share_a > 0.8 and share_b > 0.8, (share_a, share_b)
