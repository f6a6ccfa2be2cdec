import pytest
import torch

from components.two_tower.batching import item_features, user_features
from components.two_tower.model import ITEM_TABLE, TwoTower, TwoTowerConfig


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TwoTower(TwoTowerConfig(num_users=5, num_items=8, num_categories=4, embedding_dim=8))


def test_towers_return_unit_vectors_of_the_embedding_dim(model):
    users = model.user_embedding(user_features([1, 2, 0], [[1, 2], [], [3]]))
    items = model.item_embedding(item_features([1, 0], [[1], []]))
    assert users.shape == (3, 8) and items.shape == (2, 8)
    assert torch.allclose(users.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(items.norm(dim=1), torch.ones(2), atol=1e-5)
    scores = model(user_features([1, 2], [[1], [2]]), item_features([3, 4], [[1], [2]]))
    assert scores.shape == (2,) and bool((scores.abs() <= 1 + 1e-5).all())


def test_unknown_user_is_described_by_their_history(model):
    same_id = user_features([0, 0], [[1, 2], [5, 6]])
    vectors = model.user_embedding(same_id)
    assert not torch.allclose(vectors[0], vectors[1])


def test_history_and_item_id_share_one_table(model):
    configs = {t.name: t.feature_names for t in model.ebc.embedding_bag_configs()}
    assert configs[ITEM_TABLE] == ["item_id", "history"]
    assert [n for n, _ in model.named_parameters() if ITEM_TABLE in n] == [
        f"ebc.embedding_bags.{ITEM_TABLE}.weight"
    ]


def test_config_round_trip_and_checks():
    config = TwoTowerConfig(num_users=3, num_items=4, num_categories=2, user_hidden_dims=[16, 8])
    assert TwoTowerConfig.from_dict(config.to_dict()) == config
    assert config.user_hidden_dims == (16, 8)
    with pytest.raises(ValueError):
        TwoTowerConfig(num_users=0, num_items=4, num_categories=2)
    linear = TwoTower(TwoTowerConfig(3, 4, 2, embedding_dim=4, item_hidden_dims=()))
    assert linear.item_embedding(item_features([1], [[1]])).shape == (1, 4)
