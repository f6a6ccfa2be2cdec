"""The actions the ranker predicts, their labels, and the one explicit step that combines them.

An action is one outcome an event can have under the event table (``data.events``): a click, a
purchase, a rating in one value band, a short view, a skip. The ranker predicts the probability
of each action a user takes on a candidate; the served score is ``Σ weight_i × P(action_i)``
with the table's weights (negative outcomes weigh negative), as X's For You feed combines its
per-action predictions (``xai-org/x-algorithm``). The weights are read when a ranker is loaded,
not when it is trained, so changing ``RECO_EVENT_TYPES`` changes what serving optimises without
a retrain.

Action names are MLflow-metric safe (letters, digits, ``_``, ``.``):

- ``<type>``: a positive event of a type without value bands (click, purchase, a view with no
  or a long enough dwell, a rating without a value) or, for a type that is never positive, the
  event itself (``impression_skip``);
- ``<type>_ge<t>``: a positive whose ``value`` reaches band threshold ``t`` and no higher one
  (``rating_ge4``: 4 or more, ``rating_ge3``: 3 to 3.5), the band that sets its weight;
- ``<type>_lt<m>``: an event whose ``value`` is under the type's ``min_value`` (a view under
  5 s, a rating under 3): a negative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from components.data.columns import EVENT_TYPE, ITEM_ID, USER_ID, VALUE
from components.data.events import EventTable, default_table

PairActions = Mapping[int, Mapping[int, set[str]]]  # user -> item -> actions taken


def _number(value: float) -> str:
    return f"{value:g}"


def action_weights(table: EventTable | None = None) -> dict[str, float]:
    """Action -> its weight in the served score, for every action the table can produce:
    positives their table weight, negatives minus the type's ``negative_weight``."""
    table = table if table is not None else default_table()
    weights: dict[str, float] = {}
    for event_type, sem in table.root.items():
        if not sem.positive:
            weights[event_type] = -sem.negative_weight
            continue
        weights[event_type] = sem.weight
        for threshold, weight in sorted(sem.value_weights.items()):
            weights[f"{event_type}_ge{_number(threshold)}"] = weight
        if sem.min_value is not None:
            weights[f"{event_type}_lt{_number(sem.min_value)}"] = -sem.negative_weight
    return weights


def event_actions(frame: pd.DataFrame, table: EventTable | None = None) -> np.ndarray:
    """The action of each event row (object array of names); the same rules as
    ``data.events.event_weights``, so an action is positive exactly when the event is."""
    n = len(frame)
    if EVENT_TYPE not in frame.columns:
        raise ValueError("events lack the column 'event_type'")
    table = table if table is not None else default_table()
    types = frame[EVENT_TYPE].astype(str).to_numpy()
    values = (
        pd.to_numeric(frame[VALUE], errors="coerce").to_numpy(np.float64)
        if VALUE in frame.columns
        else np.full(n, np.nan)
    )
    actions = np.empty(n, dtype=object)
    for event_type in pd.unique(types):
        if event_type not in table.root:
            raise ValueError(f"event type {event_type!r} is not in the event table")
        sem = table[event_type]
        rows = types == event_type
        named = np.full(int(rows.sum()), event_type, dtype=object)
        if sem.positive:
            value = values[rows]
            for threshold in sorted(sem.value_weights):  # ascending: the highest reached wins
                named = np.where(value >= threshold, f"{event_type}_ge{_number(threshold)}", named)
            if sem.min_value is not None:
                named = np.where(
                    value < sem.min_value, f"{event_type}_lt{_number(sem.min_value)}", named
                )
        actions[rows] = named
    return actions


def pair_actions(
    window: pd.DataFrame, table: EventTable | None = None
) -> dict[int, dict[int, set[str]]]:
    """User -> item -> the actions the user took on the item in ``window`` (a label window)."""
    frame = pd.DataFrame(
        {
            USER_ID: window[USER_ID].to_numpy(np.int64),
            ITEM_ID: window[ITEM_ID].to_numpy(np.int64),
            "action": event_actions(window, table),
        }
    ).drop_duplicates()
    taken: dict[int, dict[int, set[str]]] = {}
    for user, item, action in frame.itertuples(index=False):
        taken.setdefault(int(user), {}).setdefault(int(item), set()).add(str(action))
    return taken


def action_labels(
    users: Sequence[int] | np.ndarray,
    items: Sequence[int] | np.ndarray,
    taken: PairActions,
    actions: Sequence[str],
) -> pd.DataFrame:
    """One 0/1 column per action: whether the user took it on the item (``taken``)."""
    labels = np.zeros((len(users), len(actions)), np.float32)
    column = {action: j for j, action in enumerate(actions)}
    for row, (user, item) in enumerate(zip(users, items, strict=True)):
        for action in taken.get(int(user), {}).get(int(item), ()):
            if action in column:
                labels[row, column[action]] = 1.0
    return pd.DataFrame(labels, columns=list(actions))


def combine(probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The served score: ``Σ_i weights[i] × probabilities[:, i]`` per row (rows = candidates,
    columns = actions)."""
    probabilities = np.asarray(probabilities, np.float64)
    weights = np.asarray(weights, np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(weights):
        raise ValueError(
            f"{probabilities.shape} probabilities do not match {len(weights)} action weights"
        )
    return probabilities @ weights


def dominant_actions(
    probabilities: np.ndarray, weights: np.ndarray, actions: Sequence[str]
) -> list[str]:
    """Per row, the action whose weighted probability adds most to the score (what a reason
    can name: "likely to purchase"); ``""`` where no action adds anything (every weighted
    probability <= 0: a skip or a short view is never a reason to show an item)."""
    contributions = np.asarray(probabilities, np.float64) * np.asarray(weights, np.float64)
    if not contributions.size:
        return [""] * len(contributions)
    best = contributions.argmax(axis=1)
    adds = contributions[np.arange(len(best)), best] > 0
    names = np.asarray([*actions, ""], dtype=object)  # the last: no action
    return names[np.where(adds, best, len(actions))].tolist()
