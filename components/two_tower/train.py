"""Train the two-tower model on implicit feedback: in-batch sampled softmax with log-Q correction.

Examples: one per positive (user, item) pair (see ``history.py``: the event table decides what is
a positive; a pair weighs as its strongest positive event, negatives never make a pair), with
the user's history = their distinct earlier items, most recent first. Nothing at
or after the target's position enters its history, so training never sees the answer.

Loss: for a batch of B examples the other items of the batch are the negatives. Popular items
are negatives far more often than a uniform sample would make them, which pushes them down;
subtracting log q(item) from each logit (q = the item's share of the training examples; Yi et
al., RecSys 2019) removes that bias. An item that occurs twice in a batch is scored once, so a
user's positive is never also counted as their negative. Each example's loss term is multiplied
by its pair's weight (normalised to mean 1 over the training pairs, so the learning rate keeps
its meaning): a purchase pulls harder than a view.

Unknown rows: with probability ``id_dropout`` a user id (or an item id) is replaced by row 0 in
an example, so the unknown rows learn "a user known only by their history" and "an item known
only by its categories", which is how new users and new items are embedded at serving time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from components.data.columns import CATEGORIES, ITEM_ID, TITLE, USER_ID
from components.data.contract import split_categories
from components.two_tower.batching import item_features_padded, user_features_padded
from components.two_tower.content import content_rows, title_tokens
from components.two_tower.history import PAD, WEIGHT, history_matrix, positive_interactions
from components.two_tower.model import TwoTower, TwoTowerConfig
from components.two_tower.vocab import UNKNOWN, Vocabulary, lookup_bags

MAX_THREADS = 2


@dataclass
class TrainedTwoTower:
    """A trained model with everything needed to embed raw ids (see ``export.save_two_tower``).

    ``item_categories`` is the catalog: every item id of the ``items`` frame (and any item seen
    only in the interactions) -> its category names, so items never interacted with can be
    embedded from their categories; ``item_content`` the same items' content tokens (title
    words, decade: ``content.title_tokens``). ``loss_history`` holds the mean training loss per
    epoch.
    """

    model: TwoTower
    config: TwoTowerConfig
    users: Vocabulary
    items: Vocabulary
    categories: Vocabulary
    item_categories: dict[int, list[str]]
    loss_history: list[float]
    params: dict[str, Any] = field(default_factory=dict)
    train_seconds: float = 0.0
    item_content: dict[int, list[str]] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    """Seeds torch (CPU and any GPU) and asks it for deterministic kernels; numpy draws come from
    generators made from the same seed, so one seed fixes a whole training run."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def catalog_categories(items: pd.DataFrame, extra_item_ids: np.ndarray) -> dict[int, list[str]]:
    """Item id -> category names for the catalog, plus ``extra_item_ids`` (no categories)."""
    for column in (ITEM_ID, CATEGORIES):
        if column not in items.columns:
            raise ValueError(f"items lack the column {column!r}")
    catalog = {
        int(i): split_categories(c)
        for i, c in zip(items[ITEM_ID].to_numpy(np.int64), items[CATEGORIES], strict=True)
    }
    for item in extra_item_ids.tolist():
        catalog.setdefault(int(item), [])
    return dict(sorted(catalog.items()))


def catalog_content(items: pd.DataFrame, item_ids: Sequence[int]) -> dict[int, list[str]]:
    """Item id -> content tokens of its title, for ``item_ids`` (no title: no tokens)."""
    titles = (
        dict(zip(items[ITEM_ID].to_numpy(np.int64).tolist(), items[TITLE], strict=True))
        if TITLE in items.columns
        else {}
    )
    return {int(i): title_tokens(titles.get(int(i))) for i in item_ids}


def content_matrix(
    item_ids: list[int | None], item_content: dict[int, list[str]], buckets: int
) -> tuple[np.ndarray, np.ndarray]:
    """Padded (len(item_ids), max tokens) matrix of hashed content rows, and lengths."""
    empty: list[str] = []
    return _padded([content_rows(item_content.get(i, empty), buckets) for i in item_ids])


def category_matrix(
    item_ids: list[int | None], item_categories: dict[int, list[str]], categories: Vocabulary
) -> tuple[np.ndarray, np.ndarray]:
    """Padded (len(item_ids), max categories) matrix of category rows, and lengths."""
    return _padded(lookup_bags(categories, [item_categories.get(i, []) for i in item_ids]))


def _padded(bags: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    width = max([len(b) for b in bags] + [1])
    matrix = np.full((len(bags), width), PAD, dtype=np.int64)
    lengths = np.zeros(len(bags), dtype=np.int64)
    for row, bag in enumerate(bags):
        matrix[row, : len(bag)] = bag
        lengths[row] = len(bag)
    return matrix, lengths


def in_batch_softmax_loss(
    user_vectors: torch.Tensor,
    item_vectors: torch.Tensor,
    targets: torch.Tensor,
    log_q: torch.Tensor,
    temperature: float,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy of each user's target among the batch's distinct items, log-Q corrected.

    ``item_vectors`` holds one row per distinct item of the batch, ``targets`` the row of each
    user's positive, ``log_q`` the log sampling probability of each distinct item, ``weights``
    each example's weight (None = all 1): the weighted mean of the examples' terms.
    """
    logits = user_vectors @ item_vectors.T / temperature - log_q[None, :]
    if weights is None:
        return F.cross_entropy(logits, targets)
    terms = F.cross_entropy(logits, targets, reduction="none")
    return (terms * weights).sum() / weights.sum()


def train_two_tower(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    *,
    embedding_dim: int = 64,
    epochs: int = 5,
    batch_size: int = 1024,
    learning_rate: float = 0.005,
    history_length: int = 20,
    temperature: float = 0.05,
    hidden_dims: tuple[int, ...] = (128,),
    id_dropout: float = 0.1,
    weight_decay: float = 0.0,
    content_buckets: int = 0,
    history_decay: float = 1.0,
    seed: int = 0,
    progress: bool = True,
    num_threads: int = 1,
    on_epoch: Callable[[TrainedTwoTower], bool] | None = None,
) -> TrainedTwoTower:
    """Fit a two-tower model on ``interactions`` (the data contract's frame) and ``items``.

    Args:
        interactions: user_id, item_id, timestamp (event_type and value optional: the event
            table of the settings decides positives and weights; negatives are dropped).
        items: the catalog (item_id, categories); every item gets an embedding later.
        embedding_dim: size of the table rows and of the output vectors.
        epochs: passes over the positive pairs.
        batch_size: examples per step; also the number of in-batch negatives.
        learning_rate: Adam step size.
        history_length: most recent distinct items in a user's history bag.
        temperature: softmax temperature over cosine scores (small = sharper).
        hidden_dims: hidden layer sizes of both tower MLPs.
        id_dropout: chance an example's user id / item id is replaced by the unknown row.
        weight_decay: Adam L2 penalty.
        content_buckets: hashed rows for the items' title tokens and decade (0, the default:
            categories only; ``content.CONTENT_BUCKETS`` is the size used when on). Off by
            default because validation said so: on ml-latest-small over seeds 0-2 it lifted the
            label window's cold-item Recall@100 from about 0.002 to 0.024 but cost the tower's
            validation Recall@100 0.393 -> 0.372 and NDCG@10 0.134 -> 0.117 (docs/quality.md).
        history_decay: the user tower's history bag weights its i-th most recent item by
            ``history_decay**i`` (normalised per bag; ``model.history_weights``); 1.0 = the
            plain mean. The pipeline's default is ``TrainingParams.history_decay`` (0.9,
            chosen on validation); 1.0 here keeps a bare call the plain model.
        seed: makes initialisation, shuffling and dropout repeatable.
        progress: show a tqdm bar over batches.
        num_threads: torch intra-op threads while training, capped at 2 and restored after.
            One is the default: the ops are small, and a second thread measured 2-8x slower
            (spin-waiting) whenever another process shares the two cores.
        on_epoch: called after each epoch with the model so far (in eval mode); True stops
            training there (early stopping on a validation window: ``steps.train_retrieval``).
    """
    if epochs < 1 or batch_size < 1 or temperature <= 0 or not 0 <= id_dropout < 1:
        raise ValueError("need epochs >= 1, batch_size >= 1, temperature > 0, 0 <= id_dropout < 1")
    started = time.perf_counter()
    positives = positive_interactions(interactions)
    if positives.empty:
        raise ValueError("no positive interactions to train on")
    # rows in the positives' user order (by their events), so the id key picks no row
    users = Vocabulary(positives[USER_ID].to_numpy(), ordered=True)
    item_vocab = Vocabulary(positives[ITEM_ID].to_numpy())
    catalog = catalog_categories(items, positives[ITEM_ID].unique())
    categories = Vocabulary({c for cats in catalog.values() for c in cats})
    content = catalog_content(items, list(catalog)) if content_buckets else {}
    config = TwoTowerConfig(
        num_users=len(users),
        num_items=len(item_vocab),
        num_categories=len(categories),
        embedding_dim=embedding_dim,
        history_length=history_length,
        user_hidden_dims=tuple(hidden_dims),
        item_hidden_dims=tuple(hidden_dims),
        content_buckets=content_buckets,
        history_decay=history_decay,
    )

    user_rows = users.lookup(positives[USER_ID].to_numpy())
    item_rows = item_vocab.lookup(positives[ITEM_ID].to_numpy())
    weights = positives[WEIGHT].to_numpy(np.float64)
    example_weights = torch.from_numpy(weights / weights.mean()).float()
    history, history_lengths = history_matrix(user_rows, item_rows, history_length)
    # Categories of every item row; row 0 (the unknown item) has none.
    cat_matrix, cat_lengths = category_matrix([None, *item_vocab.values], catalog, categories)
    content_bags = (
        content_matrix([None, *item_vocab.values], content, content_buckets)
        if content_buckets
        else None
    )
    counts = np.bincount(item_rows, minlength=len(item_vocab)).astype(np.float64)
    log_q_all = torch.from_numpy(np.log(np.maximum(counts, 1.0) / len(item_rows))).float()

    params = {
        "embedding_dim": embedding_dim,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "history_length": history_length,
        "temperature": temperature,
        "hidden_dims": list(hidden_dims),
        "id_dropout": id_dropout,
        "weight_decay": weight_decay,
        "content_buckets": content_buckets,
        "history_decay": history_decay,
        "seed": seed,
        "examples": len(positives),
        "mean_example_weight": float(weights.mean()),
    }

    def epoch_done(model: TwoTower, losses: list[float]) -> bool:
        if on_epoch is None:
            return False
        model.eval()
        so_far = TrainedTwoTower(
            model,
            config,
            users,
            item_vocab,
            categories,
            catalog,
            list(losses),
            params,
            item_content=content,
        )
        try:
            return bool(on_epoch(so_far))
        finally:
            model.train()

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(num_threads, MAX_THREADS)))
    try:
        with torch.random.fork_rng(devices=[]):
            seed_everything(seed)
            model = TwoTower(config)
            losses = _fit(
                model,
                user_rows,
                item_rows,
                history,
                history_lengths,
                cat_matrix,
                cat_lengths,
                content_bags,
                log_q_all,
                example_weights,
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                temperature=temperature,
                id_dropout=id_dropout,
                weight_decay=weight_decay,
                rng=np.random.default_rng(seed),
                progress=progress,
                epoch_done=epoch_done,
            )
    finally:
        torch.set_num_threads(previous_threads)
    model.eval()
    return TrainedTwoTower(
        model=model,
        config=config,
        users=users,
        items=item_vocab,
        categories=categories,
        item_categories=catalog,
        loss_history=losses,
        params=params,
        train_seconds=time.perf_counter() - started,
        item_content=content,
    )


def _fit(
    model: TwoTower,
    user_rows: np.ndarray,
    item_rows: np.ndarray,
    history: np.ndarray,
    history_lengths: np.ndarray,
    cat_matrix: np.ndarray,
    cat_lengths: np.ndarray,
    content_bags: tuple[np.ndarray, np.ndarray] | None,
    log_q_all: torch.Tensor,
    example_weights: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    temperature: float,
    id_dropout: float,
    weight_decay: float,
    rng: np.random.Generator,
    progress: bool,
    epoch_done: Callable[[TwoTower, list[float]], bool] | None = None,
) -> list[float]:
    """The training loop; returns the mean loss of each epoch."""
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    n = len(user_rows)
    steps = -(-n // batch_size)
    losses: list[float] = []
    with tqdm(total=epochs * steps, desc="two-tower", unit="batch", disable=not progress) as bar:
        for epoch in range(epochs):
            order = rng.permutation(n)
            total = 0.0
            for step in range(steps):
                batch = order[step * batch_size : (step + 1) * batch_size]
                batch_users = user_rows[batch].copy()
                batch_users[rng.random(len(batch)) < id_dropout] = UNKNOWN
                distinct, targets = np.unique(item_rows[batch], return_inverse=True)
                distinct_ids = distinct.copy()
                distinct_ids[rng.random(len(distinct)) < id_dropout] = UNKNOWN
                user_kjt = user_features_padded(batch_users, history[batch], history_lengths[batch])
                item_kjt = item_features_padded(
                    distinct_ids,
                    cat_matrix[distinct],
                    cat_lengths[distinct],
                    None
                    if content_bags is None
                    # content speaks only for an item known by nothing else (see content.py)
                    else (
                        content_bags[0][distinct],
                        np.where(distinct_ids == UNKNOWN, content_bags[1][distinct], 0),
                    ),
                )
                loss = in_batch_softmax_loss(
                    model.user_embedding(user_kjt),
                    model.item_embedding(item_kjt),
                    torch.from_numpy(targets.reshape(-1)),
                    log_q_all[torch.from_numpy(distinct)],
                    temperature,
                    example_weights[torch.from_numpy(batch)],
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(batch)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{float(loss.detach()):.3f}")
            losses.append(total / n)
            if epoch_done is not None and epoch_done(model, losses):
                break
    return losses


# The ``train_two_tower`` arguments a trained model records in ``params``.
_RETRAIN_ARGS = (
    "embedding_dim",
    "epochs",
    "batch_size",
    "learning_rate",
    "history_length",
    "temperature",
    "hidden_dims",
    "id_dropout",
    "weight_decay",
    "content_buckets",
    "history_decay",
    "seed",
)


def train_like(
    params: dict[str, Any], interactions: pd.DataFrame, items: pd.DataFrame
) -> TrainedTwoTower:
    """A tower trained on ``interactions`` with the recorded ``params`` of another (same seed,
    epochs, sizes): the ranker's candidates come from such a tower trained on the window before
    its labels, so the retrieval scores it learns from never saw the answers."""
    args = {k: params[k] for k in _RETRAIN_ARGS if k in params}
    if "hidden_dims" in args:
        args["hidden_dims"] = tuple(args["hidden_dims"])
    return train_two_tower(interactions, items, progress=False, **args)
