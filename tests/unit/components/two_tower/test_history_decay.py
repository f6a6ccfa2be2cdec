"""The recency-weighted history bag: one weighting, in the model, for training and serving."""

import numpy as np
import pytest
import torch

from components.two_tower.batching import user_features, user_features_padded
from components.two_tower.export import TwoTowerRetrieval, load_two_tower, save_two_tower
from components.two_tower.model import (
    ITEM_TABLE,
    USER_FEATURES,
    TwoTower,
    TwoTowerConfig,
    history_weights,
    pool_history,
)
from components.two_tower.train import train_like, train_two_tower

DIM = 8


def _pair(decay: float) -> tuple[TwoTower, TwoTower]:
    """A plain-mean model and one with ``decay``, with identical parameters."""
    torch.manual_seed(0)
    config = TwoTowerConfig(num_users=6, num_items=12, num_categories=4, embedding_dim=DIM)
    plain = TwoTower(config).eval()
    decayed = TwoTower(TwoTowerConfig(**{**config.to_dict(), "history_decay": decay})).eval()
    decayed.load_state_dict(plain.state_dict())
    return plain, decayed


def test_weights_decay_from_the_most_recent_item_and_sum_to_one_per_bag():
    weights = history_weights(torch.tensor([3, 0, 1, 2]), 0.5)
    expected = [1 / 1.75, 0.5 / 1.75, 0.25 / 1.75, 1.0, 1 / 1.5, 0.5 / 1.5]
    assert torch.allclose(weights, torch.tensor(expected))
    assert torch.allclose(history_weights(torch.tensor([4]), 1.0), torch.full((4,), 0.25))


def test_a_decayed_bag_is_the_hand_computed_weighted_mean():
    _, model = _pair(0.7)
    table = model.ebc.embedding_bags[ITEM_TABLE].weight
    kjt = user_features([1, 2, 0], [[3, 4, 5], [], [7]])
    pooled = model._pooled(kjt, USER_FEATURES)[:, DIM:]
    by_hand = (table[3] + 0.7 * table[4] + 0.49 * table[5]) / (1 + 0.7 + 0.49)
    assert torch.allclose(pooled[0], by_hand, atol=1e-6)
    assert torch.equal(pooled[1], torch.zeros(DIM))  # empty bag: zeros, as MEAN pooling gives
    assert torch.allclose(pooled[2], table[7])
    direct = pool_history(table, torch.tensor([3, 4, 5]), torch.tensor([3]), 0.7)
    assert torch.allclose(direct[0], by_hand, atol=1e-6)


def test_the_order_of_the_history_matters_only_when_decayed():
    plain, decayed = _pair(0.5)
    recent_first = user_features([1], [[3, 4, 5]])
    reversed_ = user_features([1], [[5, 4, 3]])
    assert torch.allclose(plain.user_embedding(recent_first), plain.user_embedding(reversed_))
    assert not torch.allclose(
        decayed.user_embedding(recent_first), decayed.user_embedding(reversed_), atol=1e-4
    )


def test_decay_one_is_the_mean_model_a_config_without_the_field_loads_as():
    plain, _ = _pair(0.5)
    old = {k: v for k, v in plain.config.to_dict().items() if k != "history_decay"}
    assert TwoTowerConfig.from_dict(old).history_decay == 1.0
    loaded = TwoTower(TwoTowerConfig.from_dict(old)).eval()
    loaded.load_state_dict(plain.state_dict())
    kjt = user_features([1, 2, 0], [[3, 4, 5], [], [7, 8]])
    assert torch.equal(loaded.user_embedding(kjt), plain.user_embedding(kjt))
    # the weighted path with decay 1.0 is the same mean, to float rounding
    table = plain.ebc.embedding_bags[ITEM_TABLE].weight
    pooled = plain._pooled(kjt, USER_FEATURES)[:, DIM:]
    weighted = pool_history(table, torch.tensor([3, 4, 5, 7, 8]), torch.tensor([3, 0, 2]), 1.0)
    assert torch.allclose(pooled, weighted, atol=1e-7)


def test_decay_must_lie_in_zero_one():
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="history_decay"):
            TwoTowerConfig(num_users=2, num_items=2, num_categories=2, history_decay=bad)


def test_training_and_serving_inputs_give_the_same_user_vector():
    """Training builds the user input from a padded matrix, serving from lists: same vector."""
    _, model = _pair(0.6)
    histories = [[3, 4, 5, 6], [], [9, 2]]
    matrix = np.zeros((3, 5), dtype=np.int64)
    for row, bag in enumerate(histories):
        matrix[row, : len(bag)] = bag
    lengths = np.array([len(b) for b in histories])
    served = model.user_embedding(user_features([1, 2, 3], histories))
    trained = model.user_embedding(user_features_padded(np.array([1, 2, 3]), matrix, lengths))
    assert torch.equal(served, trained)


@pytest.fixture
def events(make_interactions, make_items):
    rng = np.random.default_rng(1)
    rows = [(u, int(i), t) for u in range(1, 16) for t, i in enumerate(rng.choice(20, 6, False))]
    return make_interactions(rows), make_items({i: "A|B" if i % 2 else "C" for i in range(20)})


def test_the_decay_is_trained_saved_served_and_retrained_with(events, tmp_path):
    interactions, items = events
    trained = train_two_tower(
        interactions, items, embedding_dim=DIM, epochs=1, history_decay=0.8, progress=False
    )
    assert trained.config.history_decay == 0.8
    save_two_tower(trained, tmp_path)
    served = load_two_tower(tmp_path)
    assert served.model.config.history_decay == 0.8
    in_memory = TwoTowerRetrieval.from_trained(trained)
    users, histories = [1, 2], [[3, 5, 7], [4]]
    assert np.array_equal(
        served.user_embeddings(users, histories), in_memory.user_embeddings(users, histories)
    )
    assert train_like(trained.params, interactions, items).config.history_decay == 0.8
