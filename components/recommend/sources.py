"""Candidate sources that need no model: popularity (per category too), co-visitation, and the
items a user has already seen.

Each answers from arrays prepared once per table load, so a request costs a few numpy calls.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from components.data.columns import ITEM_ID, USER_ID
from components.features.covisitation import covisitation_scores, neighbour_index
from components.recommend.catalog import Catalog
from components.recommend.tables import (
    FIRST_POSITIVE,
    LAST_SEEN,
    SCORE,
    ServingTables,
)

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


def _by_user(pairs: pd.DataFrame, time: str, ascending_items: bool) -> dict[int, np.ndarray]:
    """User id -> item ids, latest ``time`` first."""
    ordered = pairs.sort_values([USER_ID, time, ITEM_ID], ascending=[True, False, ascending_items])
    users = ordered[USER_ID].to_numpy(np.int64)
    items = ordered[ITEM_ID].to_numpy(np.int64)
    if not len(users):
        return {}
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    return {
        int(user): group
        for user, group in zip(users[starts], np.split(items, starts[1:]), strict=True)
    }


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
        self._index_catalog()
        self._covis = neighbour_index(covisitation)
        self._seen: dict[int, np.ndarray] = {}
        self._positives: dict[int, np.ndarray] = {}
        # Users erased since the tables were built (``forget_users``): answered as unknown.
        self._erased: frozenset[int] = frozenset()
        self.erased_version = -1  # the erasure list's version ``_erased`` was computed from
        if seen is not None and len(seen):
            self._seen = _by_user(seen, LAST_SEEN, ascending_items=True)
            # Tables written before FIRST_POSITIVE existed: every seen pair counts (as before).
            column = FIRST_POSITIVE if FIRST_POSITIVE in seen else LAST_SEEN
            positives = seen[seen[column].notna()]
            # recent_positive_items' order: latest first positive first, ties by item id desc.
            self._positives = _by_user(positives, column, ascending_items=False)

    def _index_catalog(self) -> None:
        self._pop_available = self.catalog.is_available(self._pop_ids)
        self._available_ranks = np.flatnonzero(self._pop_available)  # popularity order
        # Per category: positions into the popularity order (already sorted best first).
        by_category: dict[str, list[int]] = {}
        for rank, cats in enumerate(self.catalog.categories_of(self._pop_ids)):
            for cat in cats:
                by_category.setdefault(cat, []).append(rank)
        self._by_category = {c: np.asarray(r, dtype=np.int64) for c, r in by_category.items()}

    def with_catalog(self, catalog: Catalog) -> CandidateSources:
        """The same sources over an updated catalog (a catalog update): items new to the
        popularity order join it last (no events yet), availability and categories follow
        the catalog. Co-visitation and seen items are shared, not copied."""
        updated = copy.copy(self)
        updated.catalog = catalog
        new = catalog.ids[~np.isin(catalog.ids, self._pop_ids)]
        updated._pop_ids = np.concatenate([self._pop_ids, new])
        updated._pop_scores = np.concatenate([self._pop_scores, np.zeros(len(new))])
        updated._index_catalog()
        return updated

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

    def user_ids(self) -> set[int]:
        """The users the seen table knows (those ``forget_users`` may have to hide)."""
        return self._seen.keys() | self._positives.keys()

    def forget_users(self, user_ids: frozenset[int], version: int) -> None:
        """Serve ``user_ids`` (erased users) as unknown: no seen items, no stand-in history,
        until tables without them replace these (one reference swap; copies made by
        ``with_catalog`` before this call keep their own set)."""
        self._erased = frozenset(int(u) for u in user_ids)
        self.erased_version = version

    @property
    def erased_users(self) -> frozenset[int]:
        return self._erased

    def seen_items(self, user_id: int) -> np.ndarray:
        """Items the user had any event on in the training data (skips too), most recent
        first: the already-seen rule. Nothing for an erased user."""
        user_id = int(user_id)
        if user_id in self._erased:
            return _EMPTY_IDS
        return self._seen.get(user_id, _EMPTY_IDS)

    def positive_items(self, user_id: int) -> np.ndarray:
        """Items the user had a positive event on in the training data, latest first positive
        first: the history when the online store cannot answer (never a skip). Nothing for an
        erased user."""
        user_id = int(user_id)
        if user_id in self._erased:
            return _EMPTY_IDS
        return self._positives.get(user_id, _EMPTY_IDS)

    def popular(
        self,
        k: int,
        categories: Sequence[str] | None = None,
        exclude: Iterable[int] | np.ndarray | None = None,
        available_only: bool = True,
    ) -> Scored:
        """The ``k`` most popular items (in any of ``categories`` when given), skipping
        ``exclude`` and, by default, unavailable items."""
        k = max(0, k)
        if categories:
            parts = [self._by_category.get(str(c), _EMPTY_IDS) for c in categories]
            ranks = np.unique(np.concatenate(parts)) if parts else _EMPTY_IDS
            if available_only:
                ranks = ranks[self._pop_available[ranks]]
        elif available_only:
            ranks = self._available_ranks
        else:
            ranks = np.arange(len(self._pop_ids))
        excluded = _as_ids(exclude)
        # The first k kept are among the first k + |excluded| ranks: only those are checked
        # (a 100k-item catalog was checked whole on every request).
        ranks = ranks[: k + len(excluded)]
        if len(excluded):
            ranks = ranks[~np.isin(self._pop_ids[ranks], excluded)]
        ranks = ranks[:k]
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
        all_ids = np.concatenate(ids)
        all_scores = np.concatenate(scores)
        all_anchors = np.concatenate(anchors)
        keep = ~np.isin(all_ids, np.union1d(_as_ids(exclude), _as_ids(history)))
        if not keep.any():
            return Scored.empty()
        all_ids, all_scores, all_anchors = all_ids[keep], all_scores[keep], all_anchors[keep]
        # numpy, not a DataFrame groupby (~3-10 ms a request): per distinct id (sorted) the sum
        # of its scores and the anchor of its largest one (the first such, as idxmax takes).
        unique, group = np.unique(all_ids, return_inverse=True)
        totals = np.bincount(group, weights=all_scores, minlength=len(unique))
        order = np.lexsort((np.arange(len(all_ids)), -all_scores, group))
        first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
        best = np.empty(len(unique), dtype=np.int64)
        best[group[first]] = all_anchors[first]
        top = np.argsort(-totals, kind="stable")[:k]
        return Scored(unique[top], totals[top], best[top])
