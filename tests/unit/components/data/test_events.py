import json

import numpy as np
import pandas as pd
import pytest

from components.data.columns import EVENT_TYPE, EVENT_TYPES, VALUE
from components.data.events import (
    DEFAULT_EVENT_TYPES,
    EventSemantics,
    EventTable,
    event_weights,
)
from components.settings import Settings


def events(rows: list[tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame({EVENT_TYPE: [r[0] for r in rows], VALUE: [r[1] for r in rows]})


def test_default_weights_and_negatives() -> None:
    frame = events(
        [
            ("purchase", np.nan),
            ("add_to_cart", np.nan),
            ("click", np.nan),
            ("view", np.nan),  # no dwell: a plain view
            ("view", 30.0),
            ("view", 2.0),  # under 5 s: negative
            ("impression_skip", np.nan),
            ("rating", 5.0),
            ("rating", 4.0),
            ("rating", 3.5),
            ("rating", 3.0),
            ("rating", 2.5),
            ("rating", 0.5),
        ]
    )
    weight, positive = event_weights(frame, EventTable())
    assert weight.tolist() == [5.0, 3.0, 1.0, 0.3, 0.3, 0.0, 0.0, 2.0, 2.0, 1.0, 1.0, 0.0, 0.0]
    assert positive.tolist() == [w > 0 for w in weight]
    assert set(DEFAULT_EVENT_TYPES) == set(EVENT_TYPES)


def test_a_frame_without_event_types_is_all_positives_and_unknown_types_fail() -> None:
    weight, positive = event_weights(pd.DataFrame({"user_id": [1, 2]}))
    assert weight.tolist() == [1.0, 1.0] and positive.all()
    with pytest.raises(ValueError, match="share"):
        event_weights(events([("share", np.nan)]), EventTable())


def test_settings_hold_the_table_and_an_override_keeps_the_other_defaults(monkeypatch) -> None:
    monkeypatch.setenv("RECO_EVENT_TYPES", json.dumps({"view": {"weight": 0.5}}))
    table = Settings().event_types
    assert table["view"] == EventSemantics(weight=0.5)
    assert table["purchase"] == DEFAULT_EVENT_TYPES["purchase"]
    # str() is JSON, so the pipeline can pass the table on as the same variable
    monkeypatch.setenv("RECO_EVENT_TYPES", str(table))
    assert Settings().event_types == table
    monkeypatch.delenv("RECO_EVENT_TYPES")
    assert Settings().event_types == EventTable()
