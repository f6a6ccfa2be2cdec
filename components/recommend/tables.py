"""Serving tables: what the request path needs from the training data besides the models.

- ``items``        the catalog (id, title, categories, available, the string id where an
                   item has one): rules, reasons and the ids answers name;
- ``popularity``   one row per catalog item, ``score`` = the weights of its positive events
                   (the event table: a purchase 5, a click 1, a skip nothing) in the recent
                   window plus a small all-time term (ties), so items without events still
                   rank (last);
- ``covisitation`` item -> its top neighbours: items the same users engaged with positively
                   within a few positions of it (weight 1 / distance), over all time by
                   default (``COVISIT_DAYS``); also the ranker's ``covisit_score`` feature;
- ``seen``         every (user, item) with an event, its latest time (the already-seen rule: a
                   skipped item is not shown again) and its first positive time (NaT when the
                   pair has no positive): the history of users the online store does not answer
                   for is the pairs with a positive, latest first, never a skip.

Training builds them once from the interactions it trained on (``build_serving_tables``) and logs
the folder (``save_serving_tables``) as the ``serving_tables`` artefact of its MLflow run, so a
model version and the tables of its data travel together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    EXTERNAL_ID,
    ITEM_ID,
    TIMESTAMP,
    TITLE,
    USER_ID,
)
from components.data.events import event_weights

TABLES_ARTIFACT = "serving_tables"  # artefact folder of the training run in MLflow
SCORE = "score"
NEIGHBOUR_ID = "neighbour_id"
LAST_SEEN = "last_seen"
FIRST_POSITIVE = "first_positive"
_FILES = {
    "items": "items.parquet",
    "popularity": "popularity.parquet",
    "covisitation": "covisitation.parquet",
    "seen": "seen.parquet",
}
_META = "tables.json"
_ALL_TIME_WEIGHT = 1e-3  # all-time events only break ties between equally recent items
# Co-visitation over all time: on ml-latest-small a 90-day window left the ranker's
# covisit_score empty for most users and validation NDCG@10 of the ranker lower (0.1124 vs
# 0.1358 all-time, docs/quality.md); neighbours per item stay bounded either way.
COVISIT_DAYS: float | None = None


@dataclass(frozen=True)
class ServingTables:
    items: pd.DataFrame
    popularity: pd.DataFrame
    covisitation: pd.DataFrame
    seen: pd.DataFrame
    window_days: float = 30.0


def _utc_ns(series: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(series, utc=True)
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]").view("i8")


def popularity_table(
    interactions: pd.DataFrame, item_ids: np.ndarray, window_days: float, end_ns: int
) -> pd.DataFrame:
    """``item_id``, ``score`` for every catalog item, best first (ties by item id)."""
    weight, positive = event_weights(interactions)
    positives, weight = interactions[positive], weight[positive]
    items = positives[ITEM_ID].to_numpy(np.int64)
    recent = _utc_ns(positives[TIMESTAMP]) > end_ns - int(window_days * 86_400 * 1e9)
    ids = np.asarray(item_ids, dtype=np.int64)
    all_counts = pd.Series(weight).groupby(items).sum()
    recent_counts = pd.Series(weight[recent]).groupby(items[recent]).sum()
    score = recent_counts.reindex(ids, fill_value=0).to_numpy(np.float64)
    score += _ALL_TIME_WEIGHT * all_counts.reindex(ids, fill_value=0).to_numpy(np.float64)
    table = pd.DataFrame({ITEM_ID: ids, SCORE: score})
    return table.sort_values([SCORE, ITEM_ID], ascending=[False, True], ignore_index=True)


def covisitation_table(
    interactions: pd.DataFrame,
    window_days: float | None,
    end_ns: int,
    distance: int = 5,
    neighbours: int = 50,
) -> pd.DataFrame:
    """``item_id``, ``neighbour_id``, ``score``: pairs of distinct items one user engaged with at
    most ``distance`` positions apart (by time), summed over users with weight 1 / gap; each
    item keeps its ``neighbours`` best. ``window_days`` None = all time."""
    frame = interactions[event_weights(interactions)[1]]
    stamps = _utc_ns(frame[TIMESTAMP])
    if window_days is not None:
        keep = stamps > end_ns - int(window_days * 86_400 * 1e9)
        frame, stamps = frame[keep], stamps[keep]
    users = frame[USER_ID].to_numpy(np.int64)
    items = frame[ITEM_ID].to_numpy(np.int64)
    order = np.lexsort((items, stamps, users))
    users, items = users[order], items[order]
    # One row per (user, item): the first positive engagement, as a history is built.
    first = ~pd.DataFrame({"u": users, "i": items}).duplicated().to_numpy()
    users, items = users[first], items[first]
    left, right, weight = [], [], []
    for gap in range(1, max(1, distance) + 1):
        same = users[gap:] == users[:-gap]
        a, b = items[:-gap][same], items[gap:][same]
        left += [a, b]
        right += [b, a]
        weight.append(np.full(2 * len(a), 1.0 / gap))
    if not left or not sum(len(x) for x in left):
        return pd.DataFrame(
            {
                ITEM_ID: pd.Series(dtype="int64"),
                NEIGHBOUR_ID: pd.Series(dtype="int64"),
                SCORE: pd.Series(dtype="float64"),
            }
        )
    pairs = pd.DataFrame(
        {ITEM_ID: np.concatenate(left), NEIGHBOUR_ID: np.concatenate(right)}
    ).assign(**{SCORE: np.concatenate(weight)})
    summed = pairs.groupby([ITEM_ID, NEIGHBOUR_ID], sort=False, as_index=False)[SCORE].sum()
    summed = summed.sort_values(
        [ITEM_ID, SCORE, NEIGHBOUR_ID], ascending=[True, False, True], ignore_index=True
    )
    return summed[summed.groupby(ITEM_ID).cumcount() < neighbours].reset_index(drop=True)


def seen_table(interactions: pd.DataFrame) -> pd.DataFrame:
    """``user_id``, ``item_id``, ``last_seen`` (UTC) for every pair with any event, and
    ``first_positive`` (UTC, NaT for a pair with negatives only: a skip, a short view)."""
    stamps = pd.to_datetime(interactions[TIMESTAMP], utc=True)
    _, positive = event_weights(interactions)
    frame = pd.DataFrame(
        {USER_ID: interactions[USER_ID].astype("int64"), ITEM_ID: interactions[ITEM_ID]}
    ).assign(**{LAST_SEEN: stamps, FIRST_POSITIVE: stamps.where(positive)})
    grouped = frame.groupby([USER_ID, ITEM_ID], as_index=False, sort=True)
    return grouped.agg(**{LAST_SEEN: (LAST_SEEN, "max"), FIRST_POSITIVE: (FIRST_POSITIVE, "min")})


def build_serving_tables(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    *,
    window_days: float = 30.0,
    covisit_days: float | None = COVISIT_DAYS,
    covisit_distance: int = 5,
    covisit_neighbours: int = 50,
) -> ServingTables:
    """The four tables from validated interactions and catalog (the shared data contract).

    Windows end at the latest interaction, so tables built from the same data are the same
    whenever they are built."""
    end_ns = int(_utc_ns(interactions[TIMESTAMP]).max()) if len(interactions) else 0
    columns = (ITEM_ID, TITLE, CATEGORIES, AVAILABLE, EXTERNAL_ID)
    catalog = items[[c for c in columns if c in items]]
    catalog = catalog.drop_duplicates(ITEM_ID, keep="last").reset_index(drop=True)
    return ServingTables(
        items=catalog,
        popularity=popularity_table(
            interactions, catalog[ITEM_ID].to_numpy(np.int64), window_days, end_ns
        ),
        covisitation=covisitation_table(
            interactions, covisit_days, end_ns, covisit_distance, covisit_neighbours
        ),
        seen=seen_table(interactions),
        window_days=window_days,
    )


def save_serving_tables(tables: ServingTables, directory: Path | str) -> Path:
    """Write the tables as Parquet files plus a small JSON note; returns the folder."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, file in _FILES.items():
        getattr(tables, name).to_parquet(directory / file, index=False)
    meta = {"window_days": tables.window_days, "rows": {n: len(getattr(tables, n)) for n in _FILES}}
    (directory / _META).write_text(json.dumps(meta))
    return directory


def load_serving_tables(directory: Path | str) -> ServingTables:
    """Read a folder written by ``save_serving_tables``."""
    directory = Path(directory)
    missing = [f for f in _FILES.values() if not (directory / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{directory} lacks serving tables {missing}")
    meta = json.loads((directory / _META).read_text()) if (directory / _META).is_file() else {}
    frames = {name: pd.read_parquet(directory / file) for name, file in _FILES.items()}
    return ServingTables(**frames, window_days=float(meta.get("window_days", 30.0)))
