import numpy as np
import pytest
import torch

from components.two_tower.export import TwoTowerRetrieval
from components.two_tower.history import recent_positive_items
from components.two_tower.recommend import recommend_two_tower
from components.two_tower.train import in_batch_softmax_loss, train_two_tower

TINY = {"embedding_dim": 16, "batch_size": 64, "progress": False}


def test_training_smoke_loss_decreases(two_groups):
    interactions, items, *_ = two_groups
    trained = train_two_tower(interactions, items, epochs=3, **TINY)
    assert len(trained.loss_history) == 3
    assert trained.loss_history[-1] < trained.loss_history[0]
    assert trained.config.embedding_dim == 16
    assert len(trained.users) == interactions["user_id"].nunique() + 1
    assert not trained.model.training
    assert torch.get_num_threads() >= 1


def test_training_is_deterministic_for_a_seed(two_groups):
    interactions, items, *_ = two_groups
    first = train_two_tower(interactions, items, epochs=1, seed=3, **TINY)
    second = train_two_tower(interactions, items, epochs=1, seed=3, **TINY)
    other = train_two_tower(interactions, items, epochs=1, seed=4, **TINY)
    assert first.loss_history == second.loss_history
    assert first.loss_history != other.loss_history
    for (name, a), (_, b) in zip(
        first.model.state_dict().items(), second.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_model_learns_the_two_groups(two_groups):
    interactions, items, users_a, users_b, items_a, items_b = two_groups
    trained = train_two_tower(interactions, items, epochs=15, **TINY)
    retrieval = TwoTowerRetrieval.from_trained(trained)
    histories = recent_positive_items(interactions, retrieval.history_length)
    seen = interactions.groupby("user_id")["item_id"].agg(set).to_dict()
    recs, _ = recommend_two_tower(retrieval, users_a + users_b, histories, k=5, exclude=seen)
    share_a = np.mean([i in set(items_a) for u in users_a for i in recs[u]])
    share_b = np.mean([i in set(items_b) for u in users_b for i in recs[u]])
    assert share_a > 0.8 and share_b > 0.8, (share_a, share_b)
    # A user never seen in training is placed by their history alone.
    cold, _ = recommend_two_tower(retrieval, [-7], {-7: items_b[:3]}, k=5, exclude={-7: set()})
    assert np.mean([i in set(items_b) for i in cold[-7]]) > 0.8, cold


def test_log_q_correction_lowers_popular_items_advantage():
    users = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0]]), dim=1)
    items = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), dim=1)
    target = torch.tensor([0])
    flat = in_batch_softmax_loss(users, items, target, torch.log(torch.tensor([0.5, 0.5])), 1.0)
    popular = in_batch_softmax_loss(users, items, target, torch.log(torch.tensor([0.9, 0.1])), 1.0)
    assert flat.item() == pytest.approx(np.log(2))
    assert popular.item() > flat.item()  # a popular target is penalised, a rare one favoured


def test_bad_arguments_and_empty_data(two_groups, make_interactions):
    interactions, items, *_ = two_groups
    with pytest.raises(ValueError):
        train_two_tower(interactions, items, epochs=0, **TINY)
    with pytest.raises(ValueError, match="no positive"):
        train_two_tower(make_interactions([]), items, **TINY)


def test_weighted_loss_is_the_weighted_mean_of_the_examples_terms():
    torch.manual_seed(0)
    users, items = torch.randn(3, 4), torch.randn(3, 4)
    targets, log_q = torch.arange(3), torch.zeros(3)
    terms = torch.nn.functional.cross_entropy(users @ items.T / 0.5, targets, reduction="none")
    weights = torch.tensor([5.0, 1.0, 0.0])
    got = in_batch_softmax_loss(users, items, targets, log_q, 0.5, weights)
    assert got == pytest.approx(float((terms[0] * 5 + terms[1]) / 6))
    assert in_batch_softmax_loss(users, items, targets, log_q, 0.5) == pytest.approx(
        float(terms.mean())
    )
