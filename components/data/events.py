"""What each event type means: its weight and whether it is a positive, declared once.

Every consumer (two-tower positives and loss weights, histories, ranker labels, evaluation's
relevant items, popularity and co-visitation) reads events through ``event_weights`` with this
table, so a skip is a negative everywhere and a purchase outweighs a view everywhere.

Defaults (docs/events.md): view 0.3 (a view with a dwell ``value`` under 5 s is negative),
click 1, add_to_cart 3, purchase 5, impression_skip negative, rating by its ``value``: >= 4 a
strong positive (2), >= 3 a weak positive (1), below 3 negative. The table is the ``event_types``
setting (``RECO_EVENT_TYPES`` as JSON; types left out keep their defaults).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from components.data.columns import EVENT_TYPE, VALUE


class EventSemantics(BaseModel):
    """How one event type counts.

    ``weight``: the weight of a positive event of this type. ``positive``: False = never a
    positive (a skip). ``min_value``: an event whose ``value`` is below it is a negative (a
    dwell threshold on views, a rating threshold); a missing value is not checked.
    ``value_weights``: value threshold -> weight; the highest threshold the value reaches sets
    the weight (a rating of 4.5 reaches 4), otherwise ``weight`` applies.
    ``negative_weight``: how much a negative outcome of this type (a skip, a short view, a low
    rating) counts against an item in the ranker's served score (``ranker.actions``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    weight: float = Field(1.0, gt=0)
    positive: bool = True
    min_value: float | None = None
    value_weights: dict[float, float] = Field(default_factory=dict)
    negative_weight: float = Field(1.0, ge=0)

    @model_validator(mode="after")
    def _positive_weights(self) -> EventSemantics:
        if any(w <= 0 for w in self.value_weights.values()):
            raise ValueError("value_weights must be > 0 (use min_value for negatives)")
        return self


DEFAULT_EVENT_TYPES: dict[str, EventSemantics] = {
    "view": EventSemantics(weight=0.3, min_value=5.0, negative_weight=0.3),
    "click": EventSemantics(weight=1.0),
    "add_to_cart": EventSemantics(weight=3.0),
    "purchase": EventSemantics(weight=5.0),
    "rating": EventSemantics(weight=1.0, min_value=3.0, value_weights={4.0: 2.0, 3.0: 1.0}),
    "impression_skip": EventSemantics(positive=False),
}


class EventTable(RootModel[dict[str, EventSemantics]]):
    """Event type -> its semantics; every type of the data contract has an entry.

    ``str()`` is JSON, so the table travels as the ``RECO_EVENT_TYPES`` variable unchanged.
    """

    root: dict[str, EventSemantics] = Field(default_factory=lambda: dict(DEFAULT_EVENT_TYPES))

    @model_validator(mode="after")
    def _complete(self) -> EventTable:
        # Types left out keep their defaults, so an override names only what it changes.
        self.root = {**DEFAULT_EVENT_TYPES, **self.root}
        return self

    def __str__(self) -> str:
        return json.dumps(self.model_dump(mode="json"))

    def __getitem__(self, event_type: str) -> EventSemantics:
        return self.root[event_type]


def default_table() -> EventTable:
    """The table of the settings (``RECO_EVENT_TYPES``), the one source for every consumer.

    Read afresh (not the cached ``get_settings()``), so reading events never pins the process's
    settings as a side effect."""
    from components.settings import Settings

    return Settings().event_types


def event_weights(
    frame: pd.DataFrame, table: EventTable | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(weight, is_positive) per row of an event frame; a negative row has weight 0.

    A frame without ``event_type`` is all positives of weight 1 (plain interaction lists).
    An event type missing from the table is an error, not a silent positive.
    """
    n = len(frame)
    if EVENT_TYPE not in frame.columns:
        return np.ones(n, np.float64), np.ones(n, bool)
    table = table if table is not None else default_table()
    types = frame[EVENT_TYPE].astype(str).to_numpy()
    values = (
        pd.to_numeric(frame[VALUE], errors="coerce").to_numpy(np.float64)
        if VALUE in frame.columns
        else np.full(n, np.nan)
    )
    weight = np.zeros(n, np.float64)
    positive = np.zeros(n, bool)
    for event_type in pd.unique(types):
        if event_type not in table.root:
            raise ValueError(f"event type {event_type!r} is not in the event table")
        sem = table[event_type]
        rows = types == event_type
        if not sem.positive:
            continue
        value = values[rows]
        ok = np.ones(len(value), bool)
        if sem.min_value is not None:
            ok &= ~(value < sem.min_value)  # NaN (no value) is not checked
        w = np.full(len(value), sem.weight)
        for threshold in sorted(sem.value_weights):  # ascending: the highest reached wins
            w = np.where(value >= threshold, sem.value_weights[threshold], w)
        weight[rows] = np.where(ok, w, 0.0)
        positive[rows] = ok
    return weight, positive
