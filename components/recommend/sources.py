"""Candidate sources that need no model: popularity (per category too), co-visitation, and the
items a user has already seen.

Each answers from arrays prepared once per table load, so a request costs a few numpy calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from components.data.columns import ITEM_ID, USER_ID
from components.features.covisitation import covisitation_scores, neighbour_index
from components.recommend.catalog import Catalog
from components.recommend.tables import LAST_SEEN, SCORE, ServingTables

_EMPTY_IDS = np.zeros(0, dtype=np.int64)
_EMPTY_SCORES = np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class Scored:
    """Item ids with a score each (best first) and, where one exists, the history item that
    brought the candidate in (``anchors``, -1 = none)."""

    ids: np.ndarray
    scores: np.ndarray
    anchors: np.ndarray

    @classmethod
    def empty(cls) -> Scored:
        return cls(_EMPTY_IDS, _EMPTY_SCORES, _EMPTY_IDS)

    def __len__(self) -> int:
        return len(self.ids)


def _as_ids(values: Iterable[int] | np.ndarray | None) -> np.ndarray:
    if values is None:
        return _EMPTY_IDS
    if isinstance(values, np.ndarray):
        return values.astype(np.int64).reshape(-1)
    return np.fromiter((int(v) for v in values), dtype=np.int64)


class CandidateSources:
    """Popularity, co-visitation and seen items over one catalog."""

    def __init__(
        self,
        catalog: Catalog,
        popularity: pd.DataFrame,
        covisitation: pd.DataFrame | None = None,
        seen: pd.DataFrame | None = None,
    ) -> None:
        self.catalog = catalog
        pop = popularity[catalog.contains(popularity[ITEM_ID].to_numpy(np.int64))]
        pop = pop.sort_values([SCORE, ITEM_ID], ascending=[False, True])
        self._pop_ids = pop[ITEM_ID].to_numpy(np.int64)
        self._pop_scores = pop[SCORE].to_numpy(np.float64)
        self._pop_available = catalog.is_available(self._pop_ids)
        # Per category: positions into the popularity order (already sorted best first).
        by_category: dict[str, list[int]] = {}
        for rank, cats in enumerate(catalog.categories_of(self._pop_ids)):
            for cat in cats:
                by_category.setdefault(cat, []).append(rank)
        self._by_category = {c: np.asarray(r, dtype=np.int64) for c, r in by_category.items()}
        self._covis = neighbour_index(covisitation)
        self._seen: dict[int, np.ndarray] = {}
        if seen is not None and len(seen):
            ordered = seen.sort_values([USER_ID, LAST_SEEN, ITEM_ID], ascending=[True, False, True])
            users = ordered[USER_ID].to_numpy(np.int64)
            items = ordered[ITEM_ID].to_numpy(np.int64)
            starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
            for user, group in zip(users[starts], np.split(items, starts[1:]), strict=True):
                self._seen[int(user)] = group

    @classmethod
    def from_tables(cls, tables: ServingTables) -> CandidateSources:
        return cls(
            Catalog.from_items(tables.items), tables.popularity, tables.covisitation, tables.seen
        )

    @property
    def has_covisitation(self) -> bool:
        return bool(self._covis)

    def covisit_scores(self, history: Sequence[int] | np.ndarray, ids: np.ndarray) -> np.ndarray:
        """The ranker's ``covisit_score`` of each candidate (``features.covisitation``: the
        function training uses)."""
        return covisitation_scores(self._covis, history, ids)

    def seen_items(self, user_id: int) -> np.ndarray:
        """Items the user engaged with in the training data, most recent first."""
        return self._seen.get(int(user_id), _EMPTY_IDS)

    def popular(
        self,
        k: int,
        categories: Sequence[str] | None = None,
        exclude: Iterable[int] | np.ndarray | None = None,
        available_only: bool = True,
    ) -> Scored:
        """The ``k`` most popular items (in any of ``categories`` when given), skipping
        ``exclude`` and, by default, unavailable items."""
        if categories:
            parts = [self._by_category.get(str(c), _EMPTY_IDS) for c in categories]
            ranks = np.unique(np.concatenate(parts)) if parts else _EMPTY_IDS
        else:
            ranks = np.arange(len(self._pop_ids))
        if available_only:
            ranks = ranks[self._pop_available[ranks]]
        excluded = _as_ids(exclude)
        if len(excluded):
            ranks = ranks[~np.isin(self._pop_ids[ranks], excluded)]
        ranks = ranks[: max(0, k)]
        ids = self._pop_ids[ranks]
        return Scored(ids, self._pop_scores[ranks], np.full(len(ids), -1, dtype=np.int64))

    def covisited(
        self,
        history: Sequence[int] | np.ndarray,
        k: int,
        exclude: Iterable[int] | np.ndarray | None = None,
    ) -> Scored:
        """Neighbours of the history items (most recent first; recent ones weigh more: 1/(1+i)),
        summed; each candidate's anchor is the history item that contributed most."""
        ids, scores, anchors = [], [], []
        for position, anchor in enumerate(_as_ids(history)):
            found = self._covis.get(int(anchor))
            if found is None:
                continue
            neighbours, weights = found
            ids.append(neighbours)
            scores.append(weights / (1.0 + position))
            anchors.append(np.full(len(neighbours), anchor, dtype=np.int64))
        if not ids or k <= 0:
            return Scored.empty()
        frame = pd.DataFrame(
            {"id": np.concatenate(ids), "s": np.concatenate(scores), "a": np.concatenate(anchors)}
        )
        excluded = np.union1d(_as_ids(exclude), _as_ids(history))
        frame = frame[~frame["id"].isin(excluded)]
        if frame.empty:
            return Scored.empty()
        best_anchor = frame.loc[frame.groupby("id")["s"].idxmax(), ["id", "a"]].set_index("id")
        total = frame.groupby("id")["s"].sum().sort_values(ascending=False, kind="stable")
        total = total.iloc[:k]
        return Scored(
            total.index.to_numpy(np.int64),
            total.to_numpy(np.float64),
            best_anchor.loc[total.index, "a"].to_numpy(np.int64),
        )
