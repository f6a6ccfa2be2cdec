"""Baseline recommenders every model must beat: global popularity, item-kNN and ALS.

They share one interface with the models (``fit(train) -> self``, ``recommend(users, k, exclude)``)
so one evaluator scores them all. Each ranks the whole catalog: the items in ``train``, restricted
to the ``catalog`` given at construction when one is given. Only positive events count (the
event table: a skip or a low rating is not an interaction); popularity weighs each user's
strongest positive on an item. Items never seen in ``train`` cannot be
recommended by these baselines. Users unseen in ``train`` get the popularity ranking. Scoring is
batched over users with sparse/dense matrix products; Python loops run over users, never over the
catalog.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from typing import Protocol, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from components.data.columns import ITEM_ID, USER_ID
from components.data.events import event_weights
from components.data.order import user_order

Recommendations = dict[int, list[int]]


class Recommender(Protocol):
    """What the evaluator needs from a baseline or a trained model."""

    def fit(self, train: pd.DataFrame) -> Self: ...

    def recommend(
        self, users: Sequence[int], k: int, exclude: Mapping[int, Set[int]] | None = None
    ) -> Recommendations: ...


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


class _Base:
    """Index maps, the binary user-item matrix, popularity order and the shared recommend loop."""

    personalised = True
    """False: every user gets the popularity list (no per-user scoring needed)."""

    def __init__(self, catalog: Iterable[int] | None = None, batch_size: int = 512) -> None:
        self.catalog = None if catalog is None else np.unique(np.asarray(list(catalog), np.int64))
        self.batch_size = batch_size
        self._fitted = False

    # -- fitting -----------------------------------------------------------------------------
    def _index(self, train: pd.DataFrame) -> sp.csr_matrix:
        """Build id maps and the binary users x items CSR matrix of positive pairs (repeated
        events count once); popularity = per item, the sum of its users' strongest weights."""
        for column in (USER_ID, ITEM_ID):
            if column not in train.columns:
                raise ValueError(f"train lacks the column {column!r}")
        if train.empty:
            raise ValueError("train is empty: nothing to fit")
        weight, positive = event_weights(train)
        # users by their events, not their keyed ids (ALS's random start is drawn per row)
        codes, in_order = user_order(train)
        pairs = (
            pd.DataFrame(
                {
                    "u": codes[positive],
                    "i": train[ITEM_ID].to_numpy(np.int64)[positive],
                    "w": weight[positive],
                }
            )
            .groupby(["u", "i"], as_index=False)["w"]
            .max()
        )
        if pairs.empty:
            raise ValueError("train has no positive event: nothing to fit")
        items = pairs["i"].to_numpy(np.int64)
        kept, user_idx = np.unique(pairs["u"].to_numpy(np.int64), return_inverse=True)
        self.user_ids = in_order[kept]
        self.item_ids, item_idx = np.unique(items, return_inverse=True)
        matrix = sp.csr_matrix(
            (np.ones(len(items), np.float32), (user_idx, item_idx)),
            shape=(len(self.user_ids), len(self.item_ids)),
        )
        self._user_pos = pd.Index(self.user_ids)
        self._item_pos = pd.Index(self.item_ids)
        popularity = np.bincount(
            item_idx, weights=pairs["w"].to_numpy(), minlength=len(self.item_ids)
        )
        recommendable = (
            np.ones(len(self.item_ids), bool)
            if self.catalog is None
            else np.isin(self.item_ids, self.catalog)
        )
        self._blocked = ~recommendable
        # Most popular first; ties by item id (item_ids is sorted and the sort is stable).
        order = np.argsort(-popularity, kind="stable")
        self._popular = order[recommendable[order]]
        self.popularity = popularity
        # Tie-break in [0, 1): higher for more popular items; used for items a model scores 0.
        rank = np.empty(len(order), np.float64)
        rank[order] = np.arange(len(order))
        self._pop_tiebreak = (1.0 - (rank + 1) / (len(order) + 1)).astype(np.float32)
        self._fitted = True
        return matrix

    # -- recommending ------------------------------------------------------------------------
    def _exclusion_matrix(
        self, users: Sequence[int], exclude: Mapping[int, Set[int]] | None
    ) -> sp.csr_matrix:
        """A len(users) x n_items CSR marking the excluded items (ids outside the index dropped)."""
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        if exclude:
            for row, user in enumerate(users):
                excluded = exclude.get(int(user))
                if not excluded:
                    continue
                pos = self._item_pos.get_indexer(np.fromiter(excluded, np.int64, len(excluded)))
                pos = pos[pos >= 0]
                rows.append(np.full(len(pos), row, np.int64))
                cols.append(pos)
        row_idx = np.concatenate(rows) if rows else np.empty(0, np.int64)
        col_idx = np.concatenate(cols) if cols else np.empty(0, np.int64)
        return sp.csr_matrix(
            (np.ones(len(row_idx), np.float32), (row_idx, col_idx)),
            shape=(len(users), len(self.item_ids)),
        )

    def _popular_for(self, excluded_pos: np.ndarray, k: int) -> list[int]:
        """The k most popular recommendable items outside ``excluded_pos`` (item positions)."""
        head = self._popular[: k + len(excluded_pos)]
        if len(excluded_pos):
            head = head[~np.isin(head, excluded_pos)]
        return self.item_ids[head[:k]].tolist()

    def _score_known(self, user_pos: np.ndarray) -> np.ndarray:
        """Dense scores (len(user_pos) x n_items) for users seen in train; higher is better."""
        raise NotImplementedError

    def recommend(
        self, users: Sequence[int], k: int, exclude: Mapping[int, Set[int]] | None = None
    ) -> Recommendations:
        """Top-k item ids per user, excluding ``exclude[user]`` (e.g. the items seen in train)."""
        if not self._fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(train) first")
        _check_k(k)
        users = [int(u) for u in users]
        excluded = self._exclusion_matrix(users, exclude)
        user_pos = self._user_pos.get_indexer(np.asarray(users, np.int64))
        out: Recommendations = {}
        if not self.personalised:
            user_pos = np.full(len(users), -1)
        known = np.flatnonzero(user_pos >= 0)
        for batch in _batches(len(known), self.batch_size):
            rows = known[batch]
            scores = self._score_known(user_pos[rows])
            top = self._top_k(scores, excluded[rows], k)
            for row, items in zip(rows, top, strict=True):
                out[users[row]] = items
        for row in np.flatnonzero(user_pos < 0):
            out[users[row]] = self._popular_for(excluded[row].indices, k)
        return {user: out[user] for user in users}

    def _top_k(self, scores: np.ndarray, excluded: sp.csr_matrix, k: int) -> list[list[int]]:
        """Row-wise top k of ``scores`` after masking excluded and non-catalog items."""
        scores = np.array(scores, np.float64)  # a copy: masked in place below
        scores[:, self._blocked] = -np.inf
        rows, cols = excluded.nonzero()
        scores[rows, cols] = -np.inf
        n_items = scores.shape[1]
        kk = min(k, n_items)
        if kk < n_items:
            part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        else:
            part = np.broadcast_to(np.arange(n_items), scores.shape).copy()
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-part_scores, axis=1, kind="stable")
        best = np.take_along_axis(part, order, axis=1)
        valid = np.isfinite(np.take_along_axis(part_scores, order, axis=1))
        ids = self.item_ids[best]
        return [row_ids[row_ok].tolist() for row_ids, row_ok in zip(ids, valid, strict=True)]


class PopularityRecommender(_Base):
    """Most-interacted items (users per item, each weighted by their strongest positive event),
    the same list for everyone."""

    personalised = False

    def fit(self, train: pd.DataFrame) -> Self:
        self._index(train)
        return self


class ItemKNNRecommender(_Base):
    """Item-kNN over cosine co-occurrence of the binary user-item matrix.

    sim(i, j) = |U_i ∩ U_j| / sqrt(|U_i| |U_j|); each item keeps its ``neighbours`` most similar
    items. A user's score for item i is the sum of sim(j, i) over the user's train items j whose
    neighbour list holds i. Items scoring 0 follow in popularity order, so lists are always full.
    """

    def __init__(
        self,
        catalog: Iterable[int] | None = None,
        neighbours: int = 100,
        batch_size: int = 512,
        block_size: int = 1024,
    ) -> None:
        super().__init__(catalog, batch_size)
        if neighbours < 1:
            raise ValueError(f"neighbours must be >= 1, got {neighbours!r}")
        self.neighbours = neighbours
        self.block_size = block_size

    def fit(self, train: pd.DataFrame) -> Self:
        matrix = self._index(train)
        self._user_items = matrix
        self.similarity = item_cosine_topk(matrix, self.neighbours, self.block_size)
        return self

    def _score_known(self, user_pos: np.ndarray) -> np.ndarray:
        scores = (self._user_items[user_pos] @ self.similarity).toarray()
        # Positive scores rank above every zero-score item; zero-score items by popularity.
        return np.where(scores > 0, scores + 1.0, self._pop_tiebreak)


def item_cosine_topk(
    user_items: sp.csr_matrix, neighbours: int, block_size: int = 1024
) -> sp.csr_matrix:
    """Items x items CSR of cosine similarities, each row cut to its ``neighbours`` largest.

    Computed in row blocks of dense co-occurrence counts, so memory stays at
    block_size x n_items floats whatever the catalog size. The diagonal is zero.
    """
    by_item = sp.csc_matrix(user_items, dtype=np.float32)
    n_items = by_item.shape[1]
    norms = np.sqrt(np.asarray(by_item.sum(axis=0)).ravel()).astype(np.float32)
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    keep = min(neighbours, max(n_items - 1, 1))
    indptr: list[np.ndarray] = [np.zeros(1, np.int64)]
    indptr_end = 0
    indices: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for block in _batches(n_items, block_size):
        counts = (by_item[:, block].T @ by_item).toarray()
        sims = counts * inv[block, None] * inv[None, :]
        rows = np.arange(block.stop - block.start)
        sims[rows, rows + block.start] = 0.0
        if keep < n_items:
            top = np.argpartition(-sims, keep - 1, axis=1)[:, :keep]
        else:
            top = np.broadcast_to(np.arange(n_items), sims.shape)
        top_sims = np.take_along_axis(sims, top, axis=1)
        nonzero = top_sims > 0
        indices.append(top[nonzero])  # row-major, so entries stay grouped by row
        values.append(top_sims[nonzero])
        indptr.append(np.cumsum(nonzero.sum(axis=1)) + indptr_end)
        indptr_end = int(indptr[-1][-1]) if len(indptr[-1]) else indptr_end
    return sp.csr_matrix(
        (
            np.concatenate(values) if values else np.empty(0, np.float32),
            np.concatenate(indices) if indices else np.empty(0, np.int64),
            np.concatenate(indptr),
        ),
        shape=(n_items, n_items),
    )


class ALSRecommender(_Base):
    """Matrix factorisation with implicit-feedback ALS (the ``implicit`` package, on CPU).

    Confidence is ``alpha`` times the binary interaction (implicit's convention).
    """

    def __init__(
        self,
        catalog: Iterable[int] | None = None,
        factors: int = 64,
        iterations: int = 15,
        regularization: float = 0.01,
        alpha: float = 1.0,
        seed: int = 0,
        num_threads: int = 0,
        progress: bool = False,
        batch_size: int = 2048,
    ) -> None:
        super().__init__(catalog, batch_size)
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.seed = seed
        self.num_threads = num_threads
        self.progress = progress

    def fit(self, train: pd.DataFrame) -> Self:
        from implicit.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        matrix = self._index(train)
        # implicit warns (and runs far slower) when BLAS runs its own thread pool.
        with threadpool_limits(1, "blas"):
            self.model = AlternatingLeastSquares(
                factors=self.factors,
                iterations=self.iterations,
                regularization=self.regularization,
                alpha=self.alpha,
                random_state=self.seed,
                num_threads=self.num_threads,
                use_gpu=False,
            )
            self.model.fit(matrix, show_progress=self.progress)
        return self

    def recommend(
        self, users: Sequence[int], k: int, exclude: Mapping[int, Set[int]] | None = None
    ) -> Recommendations:
        """Top-k via implicit's batched ``recommend``; unseen users get popularity."""
        if not self._fitted:
            raise RuntimeError("ALSRecommender is not fitted; call fit(train) first")
        _check_k(k)
        users = [int(u) for u in users]
        excluded = self._exclusion_matrix(users, exclude)
        user_pos = self._user_pos.get_indexer(np.asarray(users, np.int64))
        blocked = np.flatnonzero(self._blocked)
        n = min(k, len(self.item_ids))
        floor = np.finfo(np.float32).min  # implicit's score for filtered-out slots
        out: Recommendations = {}
        known = np.flatnonzero(user_pos >= 0)
        for batch in _batches(len(known), self.batch_size):
            rows = known[batch]
            ids, scores = self.model.recommend(
                user_pos[rows],
                excluded[rows],
                N=n,
                filter_already_liked_items=True,
                filter_items=blocked if len(blocked) else None,
            )
            for row, row_ids, row_scores in zip(rows, ids, scores, strict=True):
                ok = (row_scores > floor) & (row_ids >= 0)
                out[users[row]] = self.item_ids[row_ids[ok]].tolist()
        for row in np.flatnonzero(user_pos < 0):
            out[users[row]] = self._popular_for(excluded[row].indices, k)
        return {user: out[user] for user in users}


BASELINES: dict[str, type[_Base]] = {
    "popularity": PopularityRecommender,
    "item_knn": ItemKNNRecommender,
    "als": ALSRecommender,
}
"""Baseline name (as it appears in results) -> class; each takes ``catalog=`` first."""
