"""The item catalog as arrays, for the rules and reasons of the request path, and the catalog
updates that change it between training runs.

Serving looks items up by id thousands of times per second; a frame lookup per item is too slow,
so the catalog is held as sorted id array + aligned columns and every lookup is vectorised
(``np.searchsorted``). Ids the catalog does not know are "unknown": not available, no category,
no title.

Catalog updates (``reco catalog add FILE``, ``POST /v1/catalog/items``) are appended to a log
folder (``Settings.catalog_updates_dir``), one Parquet file per update; each Retrieval replica
polls it (``CatalogUpdates``), merges the latest row per item into its catalog
(``Catalog.updated``) and embeds new items into its index (``serving.runtime``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    CATEGORY_SEPARATOR,
    EXTERNAL_ID,
    ITEM_ID,
    TITLE,
)
from components.data.contract import split_categories
from components.data.item_ids import (
    RawItemId,
    answer_ids,
    external_form,
    find_collisions,
    internal_item_id,
)

log = logging.getLogger(__name__)

# How a client's item id becomes the internal one; passed in only by tests (a forced collision).
InternalId = Callable[[int | str], int]

MAX_UPDATE_ITEMS = 10_000  # items per catalog update (a route body, a CLI file)
MAX_CATEGORIES = 64  # the index's limits (components.retrieval.schema)
MAX_CATEGORY_BYTES = 256
UPDATES_GLOB = "catalog-*.parquet"
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


class CatalogItem(BaseModel):
    """One item of a catalog update: a new item, or new values for a known one. A field left
    out keeps the known item's value (``{"item_id": 12, "available": false}`` only takes item 12
    out of answers); a new item without it gets the default (no title, no category,
    available)."""

    model_config = ConfigDict(extra="forbid")

    item_id: RawItemId
    title: str | None = Field(None, max_length=1000)
    categories: list[Category] | None = Field(None, max_length=MAX_CATEGORIES)
    available: bool | None = None

    @field_validator("categories", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return split_categories(value) if isinstance(value, str) else value

    @field_validator("categories")
    @classmethod
    def _fits_the_index(cls, value: list[str] | None) -> list[str] | None:
        for category in value or ():
            if CATEGORY_SEPARATOR in category:
                raise ValueError(f"a category must not contain {CATEGORY_SEPARATOR!r}")
            if len(category.encode()) > MAX_CATEGORY_BYTES:
                raise ValueError(f"category longer than {MAX_CATEGORY_BYTES} bytes")
        return value


def _latest(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per item: the last value given for each field (None = not given)."""
    if EXTERNAL_ID not in frame:  # update files written before string ids
        frame = frame.assign(**{EXTERNAL_ID: None})
    latest = frame.groupby(ITEM_ID, sort=False).last().reset_index()
    latest = latest.astype(
        {ITEM_ID: "int64", TITLE: object, CATEGORIES: object, AVAILABLE: "boolean"}
    )
    external = latest[EXTERNAL_ID].astype(object)
    latest[EXTERNAL_ID] = external.where(external.notna(), None)
    return latest


def collisions(
    items: Sequence[CatalogItem], internal_id: InternalId = internal_item_id
) -> list[str]:
    """Two different string ids of one update that map to one internal id (``item_ids``)."""
    forms = [external_form(i.item_id) for i in items]
    return find_collisions(
        [internal_id(f) for f in forms], [f if isinstance(f, str) else None for f in forms]
    )


def name_conflicts(known: Mapping[int, str], items: pd.DataFrame) -> list[str]:
    """One message per update row whose string id maps to the internal id of a different
    string the catalog (or an earlier update) already holds: merged, the two items would become
    one, so such an update is refused whole (across updates, what ``collisions`` is within one)."""
    if not len(items) or EXTERNAL_ID not in items:
        return []
    messages = []
    for key, name in zip(items[ITEM_ID].tolist(), items[EXTERNAL_ID].tolist(), strict=True):
        held = known.get(int(key))
        if isinstance(name, str) and held is not None and held != name:
            messages.append(
                f"item id {name!r} maps to internal id {int(key)}, which the catalog already "
                f"holds for {held!r} (a hash collision): rename {name!r}"
            )
    return messages


def names_of(items: pd.DataFrame) -> dict[int, str]:
    """Internal id -> string id of update rows (or catalog rows) named by a string."""
    if not len(items):
        return {}
    return _names(items[ITEM_ID].to_numpy(np.int64), items)


def catalog_frame(
    items: Sequence[CatalogItem], internal_id: InternalId = internal_item_id
) -> pd.DataFrame:
    """Validated items as update rows (``item_id`` (internal), ``title``, pipe-joined
    ``categories``, ``available``, ``external_id`` (the string id, None for an integer); None
    where a field was left out); a repeated id merges into one row. Two strings that map to one
    internal id raise ``ValueError`` (check ``collisions`` first to answer with a reason)."""
    clashes = collisions(items, internal_id)
    if clashes:
        raise ValueError("; ".join(clashes))
    forms = [external_form(i.item_id) for i in items]
    frame = pd.DataFrame(
        {
            ITEM_ID: pd.Series([internal_id(f) for f in forms], dtype="int64"),
            TITLE: pd.Series([i.title for i in items], dtype=object),
            CATEGORIES: pd.Series(
                [
                    None if i.categories is None else CATEGORY_SEPARATOR.join(i.categories)
                    for i in items
                ],
                dtype=object,
            ),
            AVAILABLE: pd.Series([i.available for i in items], dtype="boolean"),
            EXTERNAL_ID: pd.Series(
                [f if isinstance(f, str) else None for f in forms], dtype=object
            ),
        }
    )
    return _latest(frame)


def read_catalog_file(path: Path | str) -> tuple[pd.DataFrame, list[str]]:
    """Update rows from a CSV, Parquet or JSON-lines file (columns: ``item_id`` and any of
    ``title``, ``categories`` (pipe-joined), ``available``; an empty cell keeps the known value),
    and one message per invalid row (row numbers from 1). Nothing is half-read: callers write
    only when the list is empty."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        raw = pd.read_parquet(path)
    elif suffix in (".jsonl", ".json"):  # values as written: "007" stays a string id
        raw = pd.read_json(path, lines=suffix == ".jsonl", dtype=False)
    elif suffix == ".csv":  # ids as text: "007" is an SKU, "42" the integer 42 (item_ids)
        raw = pd.read_csv(path, dtype={CATEGORIES: str, TITLE: str, ITEM_ID: str})
    else:
        raise ValueError(f"{path}: expected .csv, .parquet, .json or .jsonl")
    if len(raw) > MAX_UPDATE_ITEMS:
        return catalog_frame([]), [f"{len(raw)} rows: at most {MAX_UPDATE_ITEMS} per update"]
    items, errors = [], []
    for row, record in enumerate(raw.to_dict("records"), start=1):
        given = {
            k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in record.items()
        }
        if isinstance(given.get(ITEM_ID), float) and float(given[ITEM_ID]).is_integer():
            given[ITEM_ID] = int(given[ITEM_ID])  # a CSV column with gaps reads as floats
        if isinstance(given.get(ITEM_ID), np.integer):
            given[ITEM_ID] = int(given[ITEM_ID])
        if isinstance(given.get(AVAILABLE), np.bool_):
            given[AVAILABLE] = bool(given[AVAILABLE])
        try:
            items.append(CatalogItem.model_validate(given))
        except ValidationError as error:
            reasons = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in error.errors()
            )
            errors.append(f"row {row}: {reasons}")
    if not errors:
        errors = collisions(items)
    return (catalog_frame([]) if errors else catalog_frame(items)), errors


def append_catalog_updates(directory: Path | str, items: pd.DataFrame) -> Path:
    """Add one update file to the log folder (atomic rename: a poller never reads half a file);
    names sort in write order."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"catalog-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.parquet"
    partial = directory / f".{name}.tmp"
    if EXTERNAL_ID not in items:
        items = items.assign(**{EXTERNAL_ID: None})
    items[[ITEM_ID, TITLE, CATEGORIES, AVAILABLE, EXTERNAL_ID]].to_parquet(partial, index=False)
    os.replace(partial, directory / name)
    return directory / name


def _update_files(directory: Path | str | None) -> list[Path]:
    if directory is None or not Path(directory).is_dir():
        return []
    return sorted(Path(directory).glob(UPDATES_GLOB))


def updates_signature(directory: Path | str | None) -> str:
    """Changes with every new update file: a replica re-merges only when something changed."""
    files = _update_files(directory)
    return f"{len(files)}:{files[-1].name}" if files else "0"


def accepted_updates(
    updates: Iterable[tuple[str, pd.DataFrame]], known: Mapping[int, str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """(latest row per item over the updates that can merge, one message per refused update).

    Updates are taken in log order; one whose string ids collide with a different string held
    by ``known`` (the catalog's names) or by an update accepted before it is refused whole, with
    the reason: the first name of an internal id wins, nothing already held is overwritten, and
    the refused file stays in the log (rename its item and write it again)."""
    names = dict(known or {})
    accepted, refused = [], []
    for label, frame in updates:
        if EXTERNAL_ID not in frame:  # update files written before string ids
            frame = frame.assign(**{EXTERNAL_ID: None})
        clashes = find_collisions(frame[ITEM_ID].tolist(), frame[EXTERNAL_ID].tolist())
        clashes = [*clashes, *name_conflicts(names, frame)]
        if clashes:
            refused.append(f"catalog update {label} refused: {'; '.join(clashes)}")
            continue
        names.update(names_of(frame))
        accepted.append(frame)
    if not accepted:
        return catalog_frame([]), refused
    return _latest(pd.concat(accepted, ignore_index=True)), refused


def read_catalog_updates(
    directory: Path | str | None, known: Mapping[int, str] | None = None
) -> tuple[str, pd.DataFrame]:
    """(signature, latest row per item over every update file that can merge into a catalog
    holding ``known`` names: ``accepted_updates``; each refused file is logged as an error)."""
    files = _update_files(directory)
    signature = f"{len(files)}:{files[-1].name}" if files else "0"
    merged, refused = accepted_updates(((f.name, pd.read_parquet(f)) for f in files), known)
    for message in refused:
        log.error("%s", message)
    return signature, merged


class Catalog:
    """Items by id: title, categories (first = primary), availability, and the string id of
    the items clients name by one (``names``: internal id -> string)."""

    def __init__(
        self,
        item_ids: Sequence[int] | np.ndarray,
        titles: Sequence[str],
        categories: Sequence[Sequence[str]],
        available: Sequence[bool] | np.ndarray,
        names: dict[int, str] | None = None,
    ) -> None:
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        if not (len(ids) == len(titles) == len(categories) == len(available)):
            raise ValueError("one title, category list and availability per item id")
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        if len(ids) and (np.diff(ids) == 0).any():
            raise ValueError("catalog item ids must be unique")
        self.ids = ids
        self.titles = np.asarray([str(titles[i]) for i in order], dtype=object)
        self.categories = [list(categories[i]) for i in order]
        self.available = np.asarray(available, dtype=bool)[order]
        self.primary = np.asarray([c[0] if c else "" for c in self.categories], dtype=object)
        self.names = dict(names or {})

    @classmethod
    def from_items(cls, items: pd.DataFrame) -> Catalog:
        """From a frame with the catalog contract's columns (``title``/``available`` optional)."""
        n = len(items)
        titles = items[TITLE].fillna("").astype(str).tolist() if TITLE in items else [""] * n
        available = (
            items[AVAILABLE].fillna(False).astype(bool).to_numpy()
            if AVAILABLE in items
            else np.ones(n, dtype=bool)
        )
        cats = [split_categories(v) for v in items[CATEGORIES]] if CATEGORIES in items else []
        ids = items[ITEM_ID].to_numpy(np.int64)
        return cls(ids, titles, cats or [[]] * n, available, _names(ids, items))

    @cached_property
    def fingerprint(self) -> str:
        """A digest of the ids and their string names (what the ingress's snapshot holds):
        equal catalogs give equal fingerprints, so a snapshot holder skips copying an unchanged
        catalog. Computed once per catalog (a merged update makes a new one)."""
        digest = hashlib.blake2b(self.ids.tobytes(), digest_size=16)
        digest.update("\n".join(f"{i}:{name}" for i, name in self.names.items()).encode())
        return digest.hexdigest()

    def __len__(self) -> int:
        return len(self.ids)

    def updated(self, items: pd.DataFrame) -> Catalog:
        """A new catalog with update rows (``catalog_frame``) applied: new ids added, known ids'
        given fields replaced (a missing field keeps the known value, or the default). A row
        naming a held internal id by a different string raises ``ValueError`` (``name_conflicts``).
        """
        if not len(items):
            return self
        clashes = name_conflicts(self.names, items)
        if clashes:  # read_catalog_updates leaves such updates out; never merge two items
            raise ValueError("; ".join(clashes))
        ids = items[ITEM_ID].to_numpy(np.int64)
        pos = self.positions(ids)
        known = pos >= 0
        titles = [
            t if isinstance(t, str) else (str(self.titles[p]) if p >= 0 else "")
            for t, p in zip(items[TITLE], pos, strict=True)
        ]
        cats = [
            c
            if isinstance(c, str)
            else (CATEGORY_SEPARATOR.join(self.categories[p]) if p >= 0 else "")
            for c, p in zip(items[CATEGORIES], pos, strict=True)
        ]
        given = items[AVAILABLE].astype("boolean")
        before = np.where(known, self.available[np.maximum(pos, 0)] if len(self) else True, True)
        available = np.where(given.isna().to_numpy(), before, given.fillna(False).to_numpy(bool))
        update = Catalog.from_items(
            pd.DataFrame({ITEM_ID: ids, TITLE: titles, CATEGORIES: cats, AVAILABLE: available})
        )
        keep = ~np.isin(self.ids, update.ids)
        return Catalog(
            np.concatenate([self.ids[keep], update.ids]),
            [*self.titles[keep], *update.titles],
            [*(c for c, k in zip(self.categories, keep, strict=True) if k), *update.categories],
            np.concatenate([self.available[keep], update.available]),
            {**self.names, **_names(ids, items)},
        )

    def positions(self, item_ids: Iterable[int] | np.ndarray) -> np.ndarray:
        """Row of each id in the catalog, -1 where unknown."""
        ids = np.asarray(list(item_ids) if not isinstance(item_ids, np.ndarray) else item_ids)
        ids = ids.astype(np.int64).reshape(-1)
        if not len(self.ids):
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        pos = np.minimum(pos, len(self.ids) - 1)
        return np.where(self.ids[pos] == ids, pos, -1).astype(np.int64)

    def external_ids(self, item_ids: Iterable[int] | np.ndarray) -> list[int | str]:
        """The ids as clients name them: the string where the item has one, else the int."""
        return answer_ids(np.asarray(list(item_ids), dtype=np.int64).tolist(), self.names)

    def contains(self, item_ids: Iterable[int] | np.ndarray) -> np.ndarray:
        return self.positions(item_ids) >= 0

    def is_available(self, item_ids: Iterable[int] | np.ndarray) -> np.ndarray:
        pos = self.positions(item_ids)
        return np.where(pos >= 0, self.available[np.maximum(pos, 0)], False)

    def primary_categories(self, item_ids: Iterable[int] | np.ndarray) -> np.ndarray:
        pos = self.positions(item_ids)
        out = np.full(len(pos), "", dtype=object)
        out[pos >= 0] = self.primary[pos[pos >= 0]]
        return out

    def categories_of(self, item_ids: Iterable[int] | np.ndarray) -> list[list[str]]:
        return [self.categories[p] if p >= 0 else [] for p in self.positions(item_ids)]

    def title(self, item_id: int) -> str:
        pos = int(self.positions([item_id])[0])
        return str(self.titles[pos]) if pos >= 0 else ""

    def titles_of(self, item_ids: Iterable[int] | np.ndarray) -> list[str]:
        return [str(self.titles[p]) if p >= 0 else "" for p in self.positions(item_ids)]

    def in_categories(
        self, item_ids: Iterable[int] | np.ndarray, wanted: Iterable[str] | None
    ) -> np.ndarray:
        """True where an item carries any of ``wanted`` (all True when nothing is wanted)."""
        wanted_set = {str(c) for c in wanted or ()}
        pos = self.positions(item_ids)
        if not wanted_set:
            return np.ones(len(pos), dtype=bool)
        return np.asarray(
            [p >= 0 and not wanted_set.isdisjoint(self.categories[p]) for p in pos], dtype=bool
        )


def _names(ids: np.ndarray, items: pd.DataFrame) -> dict[int, str]:
    """Internal id -> string id for the rows of ``items`` that carry one."""
    if EXTERNAL_ID not in items:
        return {}
    external = items[EXTERNAL_ID].to_numpy(dtype=object)
    return {
        int(i): str(name)
        for i, name in zip(ids.tolist(), external, strict=True)
        if isinstance(name, str) and name
    }
