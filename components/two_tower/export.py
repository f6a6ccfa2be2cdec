"""Save a trained two-tower model as plain files, and load it in its serving form.

A model folder holds (no pickled Python objects, so loading runs no stored code):

- ``state_dict.pt``    the model's tensors (loaded with ``weights_only=True``)
- ``config.json``      ``TwoTowerConfig`` and the training parameters
- ``vocabularies.json`` users, items and categories (raw value -> table row, 0 = unknown)
- ``catalog.json``     every catalog item id, its categories and its content tokens (title
  words, decade), for embedding items that were never interacted with

``TwoTowerRetrieval`` is what serving and evaluation use: raw ids and raw histories in,
float32 L2-normalised numpy vectors out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from components.two_tower.batching import item_features, user_features
from components.two_tower.content import content_rows
from components.two_tower.model import TwoTower, TwoTowerConfig
from components.two_tower.train import TrainedTwoTower
from components.two_tower.vocab import UNKNOWN, Vocabulary, lookup_bags

__all__ = ["TwoTowerRetrieval", "load_two_tower", "save_two_tower"]

FORMAT_VERSION = 1
STATE_FILE = "state_dict.pt"
CONFIG_FILE = "config.json"
VOCAB_FILE = "vocabularies.json"
CATALOG_FILE = "catalog.json"
BATCH = 4096  # rows per forward pass when embedding many users or items


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, separators=(",", ":")))


def save_two_tower(trained: TrainedTwoTower, directory: Path) -> None:
    """Write the model folder (created if missing; our files in it are overwritten)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(trained.model.state_dict(), directory / STATE_FILE)
    _write_json(
        directory / CONFIG_FILE,
        {
            "format_version": FORMAT_VERSION,
            "config": trained.config.to_dict(),
            "params": trained.params,
            "loss_history": [float(x) for x in trained.loss_history],
        },
    )
    _write_json(
        directory / VOCAB_FILE,
        {
            "users": trained.users.to_dict(),
            "items": trained.items.to_dict(),
            "categories": trained.categories.to_dict(),
        },
    )
    ids = sorted(trained.item_categories)
    _write_json(
        directory / CATALOG_FILE,
        {
            "item_ids": ids,
            "categories": [trained.item_categories[i] for i in ids],
            "content": [trained.item_content.get(i, []) for i in ids],
        },
    )


def load_two_tower(directory: Path) -> TwoTowerRetrieval:
    """Read a folder written by ``save_two_tower``."""
    directory = Path(directory)
    meta = json.loads((directory / CONFIG_FILE).read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"unsupported two-tower format {meta.get('format_version')!r}")
    vocab = json.loads((directory / VOCAB_FILE).read_text())
    catalog = json.loads((directory / CATALOG_FILE).read_text())
    config = TwoTowerConfig.from_dict(meta["config"])
    model = TwoTower(config)
    state = torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return TwoTowerRetrieval(
        model,
        users=Vocabulary.from_dict(vocab["users"]),
        items=Vocabulary.from_dict(vocab["items"]),
        categories=Vocabulary.from_dict(vocab["categories"]),
        catalog_ids=catalog["item_ids"],
        catalog_categories=catalog["categories"],
        catalog_content=catalog.get("content"),
        params=meta.get("params", {}),
    )


class TwoTowerRetrieval:
    """The serving form: embeds raw user ids + histories and raw item ids with the towers.

    Unknown user ids embed from their history alone, unknown history items are dropped, and
    items the model never saw in training embed from their categories and content tokens.
    """

    def __init__(
        self,
        model: TwoTower,
        *,
        users: Vocabulary,
        items: Vocabulary,
        categories: Vocabulary,
        catalog_ids: Sequence[int],
        catalog_categories: Sequence[Sequence[str]],
        catalog_content: Sequence[Sequence[str]] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        if len(catalog_ids) != len(catalog_categories):
            raise ValueError("one category list per catalog item")
        if catalog_content is not None and len(catalog_content) != len(catalog_ids):
            raise ValueError("one content token list per catalog item")
        self.model = model.eval()
        self.users, self.items, self.categories = users, items, categories
        self.params = dict(params or {})
        self._catalog = dict(
            zip((int(i) for i in catalog_ids), (list(c) for c in catalog_categories), strict=True)
        )
        self._content = dict(
            zip(
                (int(i) for i in catalog_ids),
                (list(c) for c in catalog_content or [[] for _ in catalog_ids]),
                strict=True,
            )
        )
        self._catalog_ids = np.array(sorted(self._catalog), dtype=np.int64)
        self._catalog_vectors: np.ndarray | None = None

    @classmethod
    def from_trained(cls, trained: TrainedTwoTower) -> TwoTowerRetrieval:
        """The serving form of a model still in memory (no files)."""
        ids = sorted(trained.item_categories)
        return cls(
            trained.model,
            users=trained.users,
            items=trained.items,
            categories=trained.categories,
            catalog_ids=ids,
            catalog_categories=[trained.item_categories[i] for i in ids],
            catalog_content=[trained.item_content.get(i, []) for i in ids],
            params=trained.params,
        )

    @property
    def embedding_dim(self) -> int:
        return self.model.config.embedding_dim

    @property
    def history_length(self) -> int:
        return self.model.config.history_length

    @property
    def catalog_ids(self) -> np.ndarray:
        """Every item id the model can embed from known data (sorted, int64)."""
        return self._catalog_ids.copy()

    def add_items(self, item_ids: Sequence[int], categories: Sequence[Sequence[str]]) -> None:
        """Categories of items added after training (a catalog update), so the content path
        embeds them (their id falls back to the unknown row); items the model was trained with
        keep theirs until the next training run."""
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        if len(ids) != len(categories):
            raise ValueError("one category list per item id")
        new = ~np.isin(ids, self._catalog_ids)
        for row in np.flatnonzero(new):
            self._catalog[int(ids[row])] = [str(c) for c in categories[row]]

    def user_embeddings(
        self, user_ids: Sequence[int], histories: Sequence[Sequence[int]]
    ) -> np.ndarray:
        """(len(user_ids), dim) float32, L2-normalised. ``histories[i]``: raw item ids, most
        recent first; only the first ``history_length`` known items are used."""
        user_ids = np.asarray(user_ids, dtype=np.int64).reshape(-1)
        if len(user_ids) != len(histories):
            raise ValueError(f"{len(user_ids)} users but {len(histories)} histories")
        rows = self.users.lookup(user_ids)
        bags = [b[: self.history_length] for b in lookup_bags(self.items, histories)]
        out = np.zeros((len(rows), self.embedding_dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(rows), BATCH):
                stop = start + BATCH
                kjt = user_features(rows[start:stop], bags[start:stop])
                out[start:stop] = self.model.user_embedding(kjt).numpy()
        return out

    def item_embeddings(
        self, item_ids: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64, vectors float32 L2-normalised); ``None`` = the whole catalog (sorted),
        including items never interacted with. Ids outside the catalog still get a vector
        (from the unknown item row, without categories)."""
        if item_ids is None:
            if self._catalog_vectors is None:
                self._catalog_vectors = self._embed_items(self._catalog_ids)
            return self._catalog_ids.copy(), self._catalog_vectors.copy()
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        return ids, self._embed_items(ids)

    def _embed_items(self, ids: np.ndarray) -> np.ndarray:
        rows = self.items.lookup(ids)
        bags = lookup_bags(self.categories, [self._catalog.get(i, []) for i in ids.tolist()])
        buckets = self.model.config.content_buckets
        content = (
            [
                content_rows(self._content.get(i, []) if row == UNKNOWN else [], buckets)
                for i, row in zip(ids.tolist(), rows.tolist(), strict=True)
            ]
            if buckets
            else None
        )
        out = np.zeros((len(ids), self.embedding_dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(ids), BATCH):
                stop = start + BATCH
                kjt = item_features(
                    rows[start:stop],
                    bags[start:stop],
                    None if content is None else content[start:stop],
                )
                out[start:stop] = self.model.item_embedding(kjt).numpy()
        return out
