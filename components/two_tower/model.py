"""The two-tower retrieval model: one TorchRec ``EmbeddingBagCollection``, two MLP projections.

User tower:  [user-id embedding ; recency-weighted mean of the embeddings of the user's recent
             items (``history_decay``; 1.0 = the plain mean)] -> MLP
Item tower:  [item-id embedding ; mean of the embeddings of the item's categories
             ; mean of its hashed content tokens (title words, decade; ``content.py``)] -> MLP
Both outputs are L2-normalised, so a score is a cosine similarity (and Milvus' IP metric on the
exported vectors ranks exactly as the model does).

Tables (all in one ``EmbeddingBagCollection``):

- ``user_table``     rows = user vocabulary, feature ``user_id``
- ``item_table``     rows = item vocabulary, features ``item_id`` AND ``history``: the history bag
  and the item id share one table, so an item's vector learned as a training target is also what
  it contributes to a user's history. A user never seen in training (row 0) is then described by
  the items they touched, and rare items get gradient from both roles. With ``history_decay``
  below 1 the history bag is pooled outside the collection, over the same table's rows
  (``pool_history``): TorchRec's per-id weights (``is_weighted``) hold for a whole collection and
  need SUM pooling on every table, which would change the mean-pooled category and content bags.
- ``category_table`` rows = category vocabulary, feature ``item_categories``: an item that never
  appeared in training (id row 0) is still placed by its categories.
- ``content_table`` rows = ``content_buckets`` + 1 hashed rows, feature ``item_content``: the
  title's words and decade, so two new items of the same categories still differ. A model
  saved before this table existed has ``content_buckets`` 0 and no such table.

Row 0 of every table is "unknown" (see ``vocab.py``); training drops ids to 0 at a small rate so
that row is a useful fallback rather than random noise.

This module holds no training or file I/O: ``train.py`` adds the loss, ``export.py`` the files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor, PoolingType

USER_ID_FEATURE = "user_id"
HISTORY_FEATURE = "history"
ITEM_ID_FEATURE = "item_id"
ITEM_CATEGORIES_FEATURE = "item_categories"
ITEM_CONTENT_FEATURE = "item_content"
USER_FEATURES = (USER_ID_FEATURE, HISTORY_FEATURE)
ITEM_FEATURES = (ITEM_ID_FEATURE, ITEM_CATEGORIES_FEATURE)  # plus ITEM_CONTENT_FEATURE if on

USER_TABLE = "user_table"
ITEM_TABLE = "item_table"
CATEGORY_TABLE = "category_table"
CONTENT_TABLE = "content_table"

INIT_STD = 0.05  # small random start; the MLP and the normalisation set the output scale


@dataclass
class TwoTowerConfig:
    """Sizes of the tables and towers. Table sizes count the unknown row 0."""

    num_users: int
    num_items: int
    num_categories: int
    embedding_dim: int = 64
    history_length: int = 20
    user_hidden_dims: tuple[int, ...] = field(default_factory=lambda: (128,))
    item_hidden_dims: tuple[int, ...] = field(default_factory=lambda: (128,))
    content_buckets: int = 0  # hashed content rows; 0 = no content table (older models)
    # weight of the i-th most recent history item ∝ decay**i (i = 0 newest), normalised per bag;
    # 1.0 = the plain mean (and the collection's own MEAN pooling, as models saved before it)
    history_decay: float = 1.0

    @property
    def item_features(self) -> tuple[str, ...]:
        """The item tower's features, in input order."""
        return ITEM_FEATURES + ((ITEM_CONTENT_FEATURE,) if self.content_buckets else ())

    def __post_init__(self) -> None:
        self.user_hidden_dims = tuple(int(d) for d in self.user_hidden_dims)
        self.item_hidden_dims = tuple(int(d) for d in self.item_hidden_dims)
        for name in ("num_users", "num_items", "num_categories"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1 (row 0 is the unknown row)")
        if self.content_buckets < 0:
            raise ValueError("content_buckets must be >= 0")
        if not 0.0 < self.history_decay <= 1.0:
            raise ValueError(f"history_decay must lie in (0, 1], got {self.history_decay}")
        if self.embedding_dim < 1 or self.history_length < 1:
            raise ValueError("embedding_dim and history_length must be >= 1")
        if any(d < 1 for d in (*self.user_hidden_dims, *self.item_hidden_dims)):
            raise ValueError("hidden dims must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["user_hidden_dims"] = list(self.user_hidden_dims)
        data["item_hidden_dims"] = list(self.item_hidden_dims)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TwoTowerConfig:
        return cls(**data)


def _projection(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> nn.Sequential:
    """Linear+ReLU per hidden layer, then a linear output (no ReLU: outputs need both signs)."""
    layers: list[nn.Module] = []
    width = in_dim
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


def history_weights(lengths: torch.Tensor, decay: float) -> torch.Tensor:
    """Per-id weights of history bags (ids most recent first): ``decay**i`` for the i-th id of
    its bag, normalised so each non-empty bag's weights sum to 1. The one weighting: the model
    applies it to every user input, so training and serving cannot differ."""
    lengths = lengths.to(torch.int64)
    bag = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    starts = torch.cumsum(lengths, 0) - lengths
    position = torch.arange(int(lengths.sum())) - starts[bag]
    raw = torch.pow(torch.tensor(float(decay), dtype=torch.float64), position.double())
    totals = torch.zeros(len(lengths), dtype=torch.float64).index_add_(0, bag, raw)
    return (raw / totals[bag]).float()


def pool_history(
    table: torch.Tensor, values: torch.Tensor, lengths: torch.Tensor, decay: float
) -> torch.Tensor:
    """(bags, dim): each bag's ``history_weights``-weighted mean of its rows of ``table``; an
    empty bag pools to zeros, as the collection's MEAN pooling does."""
    lengths = lengths.to(torch.int64)
    offsets = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(lengths, 0)[:-1]])
    return F.embedding_bag(
        values.to(torch.int64),
        table,
        offsets,
        mode="sum",
        per_sample_weights=history_weights(lengths, decay).to(table.dtype),
    )


def _normal_init(std: float) -> Any:
    def init(weight: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return weight.normal_(0.0, std)

    return init


class TwoTower(nn.Module):
    """User and item towers over one ``EmbeddingBagCollection``; scores are cosine similarities.

    ``user_embedding`` takes a KJT with the keys ``USER_FEATURES``, ``item_embedding`` one with
    ``config.item_features`` (see ``batching.py``); ``forward`` scores aligned (user, item) pairs.
    """

    def __init__(self, config: TwoTowerConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.embedding_dim
        tables = [
            EmbeddingBagConfig(
                name=USER_TABLE,
                embedding_dim=dim,
                num_embeddings=config.num_users,
                feature_names=[USER_ID_FEATURE],
                pooling=PoolingType.SUM,
                init_fn=_normal_init(INIT_STD),
            ),
            EmbeddingBagConfig(
                name=ITEM_TABLE,
                embedding_dim=dim,
                num_embeddings=config.num_items,
                feature_names=[ITEM_ID_FEATURE, HISTORY_FEATURE],
                pooling=PoolingType.MEAN,
                init_fn=_normal_init(INIT_STD),
            ),
            EmbeddingBagConfig(
                name=CATEGORY_TABLE,
                embedding_dim=dim,
                num_embeddings=config.num_categories,
                feature_names=[ITEM_CATEGORIES_FEATURE],
                pooling=PoolingType.MEAN,
                init_fn=_normal_init(INIT_STD),
            ),
        ]
        if config.content_buckets:
            tables.append(
                EmbeddingBagConfig(
                    name=CONTENT_TABLE,
                    embedding_dim=dim,
                    num_embeddings=config.content_buckets + 1,
                    feature_names=[ITEM_CONTENT_FEATURE],
                    pooling=PoolingType.MEAN,
                    init_fn=_normal_init(INIT_STD),
                )
            )
        self._item_features = config.item_features
        self.ebc = EmbeddingBagCollection(tables=tables, device=torch.device("cpu"))
        self.user_proj = _projection(len(USER_FEATURES) * dim, config.user_hidden_dims, dim)
        self.item_proj = _projection(len(self._item_features) * dim, config.item_hidden_dims, dim)

        pooled = {f: t.embedding_dim for t in tables for f in t.feature_names}
        assert set(pooled) == set(USER_FEATURES) | set(self._item_features), pooled
        user_in = sum(pooled[f] for f in USER_FEATURES)
        item_in = sum(pooled[f] for f in self._item_features)
        assert user_in == self.user_proj[0].in_features, "user tower input != pooled dims"
        assert item_in == self.item_proj[0].in_features, "item tower input != pooled dims"
        assert self.user_proj[-1].out_features == self.item_proj[-1].out_features == dim, (
            "the two towers must end in the same embedding dimension"
        )
        self._feature_names = [f for t in tables for f in t.feature_names]

    @property
    def embedding_dim(self) -> int:
        return self.config.embedding_dim

    def _pooled(self, kjt: KeyedJaggedTensor, keys: tuple[str, ...]) -> torch.Tensor:
        """Pool one side's features; the EBC wants every feature, so the other side's keys get
        empty bags (their pooled zeros are dropped again). A decayed history bag is pooled by
        ``pool_history`` over the item table instead."""
        decay = self.config.history_decay
        history = None
        if decay != 1.0 and HISTORY_FEATURE in keys and HISTORY_FEATURE in list(kjt.keys()):
            jagged = dict(kjt.to_dict())  # a copy: the KJT caches its dict
            history = jagged.pop(HISTORY_FEATURE)
            kjt = KeyedJaggedTensor.from_jt_dict(jagged)
        present = set(kjt.keys())
        missing = [f for f in self._feature_names if f not in present]
        if missing:
            batch = kjt.stride()
            empty = KeyedJaggedTensor.from_lengths_sync(
                keys=missing,
                values=torch.zeros(0, dtype=kjt.values().dtype),
                lengths=torch.zeros(batch * len(missing), dtype=kjt.lengths().dtype),
            )
            kjt = KeyedJaggedTensor.concat([kjt, empty])
        pooled = self.ebc(kjt)
        parts = {key: pooled[key] for key in keys}
        if history is not None:
            table = self.ebc.embedding_bags[ITEM_TABLE].weight
            parts[HISTORY_FEATURE] = pool_history(table, history.values(), history.lengths(), decay)
        return torch.cat([parts[key] for key in keys], dim=1)

    def user_embedding(self, user_kjt: KeyedJaggedTensor) -> torch.Tensor:
        """L2-normalised user vectors, shape (batch, embedding_dim)."""
        return F.normalize(self.user_proj(self._pooled(user_kjt, USER_FEATURES)), dim=-1)

    def item_embedding(self, item_kjt: KeyedJaggedTensor) -> torch.Tensor:
        """L2-normalised item vectors, shape (batch, embedding_dim)."""
        return F.normalize(self.item_proj(self._pooled(item_kjt, self._item_features)), dim=-1)

    def forward(self, user_kjt: KeyedJaggedTensor, item_kjt: KeyedJaggedTensor) -> torch.Tensor:
        """Score of each aligned (user, item) pair, shape (batch,), in [-1, 1]."""
        return (self.user_embedding(user_kjt) * self.item_embedding(item_kjt)).sum(dim=-1)
