"""Exact item search in the replica's memory, for catalogs small enough to hold.

A Milvus call has a fixed cost (gRPC, proxy, query node: ~2.5 ms on a server) and Milvus Lite
scans the collection per call (~10-60 ms at 10k items on two busy cores), while a dot product
with a 10k x 64 matrix takes well under a millisecond. So when a collection has at most
``max_items`` rows, a Retrieval replica reads it once from Milvus (the source of truth: the
same ids, vectors, categories and availability the index holds) and answers searches with
numpy, with the same filters and the same answer shape as ``search.search_items``. Larger
collections are searched in Milvus as before. The collection's size decides, not its URI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymilvus import MilvusClient

from components.data.columns import AVAILABLE, CATEGORIES, ITEM_ID
from components.recommend.candidates import Hits, SearchFn
from components.retrieval.info import collection_info, row_count
from components.retrieval.schema import EMBEDDING

EXACT_METRICS = frozenset({"IP", "COSINE"})  # higher is better; L2 stays in Milvus
READ_BATCH = 4096  # rows per query_iterator page


@dataclass(frozen=True)
class ExactIndex:
    """A collection's rows as arrays: ``vectors`` (n, d) float32 (unit length under COSINE),
    ``available`` per row, and per category the rows that carry it."""

    ids: np.ndarray
    vectors: np.ndarray
    available: np.ndarray
    by_category: dict[str, np.ndarray]
    metric: str = "IP"

    @classmethod
    def from_rows(
        cls,
        ids: Sequence[int] | np.ndarray,
        vectors: np.ndarray,
        categories: Sequence[Sequence[str]],
        available: Sequence[bool] | np.ndarray,
        metric: str = "IP",
    ) -> ExactIndex:
        matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if metric.upper() == "COSINE":
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            matrix = matrix / np.where(norms > 0, norms, 1.0)
        rows: dict[str, list[int]] = {}
        for row, cats in enumerate(categories):
            for cat in cats or ():
                rows.setdefault(str(cat), []).append(row)
        return cls(
            np.asarray(ids, dtype=np.int64),
            matrix,
            np.asarray(available, dtype=bool),
            {c: np.asarray(r, dtype=np.int64) for c, r in rows.items()},
            metric.upper(),
        )

    def upserted(
        self,
        ids: Sequence[int] | np.ndarray,
        vectors: np.ndarray,
        categories: Sequence[Sequence[str]],
        available: Sequence[bool] | np.ndarray,
    ) -> ExactIndex:
        """A new index with these rows added, or replacing the rows of the same ids: what the
        same upsert does to the Milvus collection (a catalog update without a retrain)."""
        new = np.asarray(ids, dtype=np.int64)
        keep = ~np.isin(self.ids, new)
        old_categories: list[list[str]] = [[] for _ in range(len(self.ids))]
        for cat, rows in self.by_category.items():
            for row in rows:
                old_categories[row].append(cat)
        return ExactIndex.from_rows(
            np.concatenate([self.ids[keep], new]),
            np.concatenate([self.vectors[keep], np.asarray(vectors, dtype=np.float32)]),
            [c for c, k in zip(old_categories, keep, strict=True) if k]
            + [list(c) for c in categories],
            np.concatenate([self.available[keep], np.asarray(available, dtype=bool)]),
            self.metric,
        )

    def __len__(self) -> int:
        return len(self.ids)

    def search(
        self,
        vectors: np.ndarray,
        k: int,
        categories: Sequence[str] | None,
        exclude: Sequence[set[int]],
    ) -> Hits:
        """Top-``k`` (id, score) per query, best first: available items only, in any of
        ``categories`` when given, ``exclude[i]`` skipped for query i (``SearchFn``)."""
        queries = np.asarray(vectors, dtype=np.float32).reshape(-1, self.vectors.shape[1])
        if len(exclude) != len(queries):
            raise ValueError(f"exclude has {len(exclude)} sets for {len(queries)} queries")
        eligible = self.available.copy()
        if categories:
            wanted = np.zeros(len(self.ids), dtype=bool)
            for cat in categories:
                rows = self.by_category.get(str(cat))
                if rows is not None:
                    wanted[rows] = True
            eligible &= wanted
        n_eligible = int(eligible.sum())
        if not n_eligible or k < 1:
            return [[] for _ in range(len(queries))]
        scores = queries @ self.vectors.T  # (queries, items): one BLAS call for the batch
        if n_eligible < len(self.ids):
            scores[:, ~eligible] = -np.inf
        answers: Hits = []
        for q in range(len(queries)):
            banned = exclude[q]
            take = min(n_eligible, k + len(banned))
            row_scores = scores[q]
            if take < len(row_scores):
                top = np.argpartition(-row_scores, take - 1)[:take]
            else:
                top = np.flatnonzero(eligible)
            # best first; ties by id, so the order is deterministic
            top = top[np.lexsort((self.ids[top], -row_scores[top]))]
            kept: list[tuple[int, float]] = []
            for position in top:
                item = int(self.ids[position])
                if item in banned:
                    continue
                kept.append((item, float(row_scores[position])))
                if len(kept) == k:
                    break
            answers.append(kept)
        return answers


def load_exact_index(client: MilvusClient, collection: str, max_items: int) -> ExactIndex | None:
    """The collection (or alias) read into an ``ExactIndex`` when it has at most ``max_items``
    rows and a metric where higher is better; None otherwise (search it in Milvus)."""
    if max_items <= 0:
        return None
    metric = str(collection_info(client, collection).get("metric_type", "IP")).upper()
    if metric not in EXACT_METRICS or row_count(client, collection) > max_items:
        return None
    ids: list[int] = []
    vectors: list[Any] = []
    categories: list[list[str]] = []
    available: list[bool] = []
    iterator = client.query_iterator(
        collection,
        batch_size=READ_BATCH,
        filter="",
        output_fields=[ITEM_ID, CATEGORIES, AVAILABLE, EMBEDDING],
    )
    try:
        while page := iterator.next():
            for row in page:
                ids.append(int(row[ITEM_ID]))
                vectors.append(row[EMBEDDING])
                categories.append(list(row.get(CATEGORIES) or []))
                available.append(bool(row[AVAILABLE]))
    finally:
        iterator.close()
    if not ids:
        return None
    return ExactIndex.from_rows(
        ids, np.asarray(vectors, dtype=np.float32), categories, available, metric
    )


def exact_search(index: ExactIndex) -> SearchFn:
    """``index.search`` as the ``SearchFn`` retrieval calls."""
    return index.search


def held_index(search: SearchFn) -> ExactIndex | None:
    """The index an ``exact_search`` answers from (None for a Milvus search): a catalog update
    upserts into it as into the collection."""
    owner = getattr(search, "__self__", None)
    return owner if isinstance(owner, ExactIndex) else None
