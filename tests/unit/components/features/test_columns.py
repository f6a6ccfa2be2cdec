"""The declarations are the one source: Feast schema, defaults, ranker columns, drift subset,
builder output and docs/features.md all agree with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    CREATED_AT,
    EVENT_TYPE,
    ITEM_ID,
    TIMESTAMP,
    TITLE,
    USER_ID,
)
from components.features import columns as fc
from components.features.build import build_feature_tables
from components.features.columns import (
    FEATURES,
    ITEM_ENTITY,
    USER_ENTITY,
    Dtype,
    Feature,
    Ranker,
    Source,
    stored,
)
from components.features.ranking import DEFAULT_FEATURES, RANKER_FEATURES, ranker_feature_frame
from monitoring import config as drift_config

DOC = Path(__file__).resolve().parents[4] / "docs" / "features.md"

# The champion's columns: a new feature may be added anywhere, these keep their relative order.
RANKER_COLUMNS = [
    "retrieval_score",
    "retrieval_rank",
    "item_events_7d",
    "item_events_30d",
    "item_events_365d",
    "item_events_all",
    "item_users_30d",
    "item_trend",
    "item_age_days",
    "item_available",
    "item_n_categories",
    "user_events_7d",
    "user_events_30d",
    "user_events_365d",
    "user_events_all",
    "user_items_all",
    "user_days_since_first",
    "user_category_affinity",
    "item_in_top_category",
]


def test_the_ranker_columns_are_the_declared_columns_in_declaration_order() -> None:
    columns = [f for f in FEATURES if f.ranker is Ranker.COLUMN]
    assert list(RANKER_FEATURES) == [f.name for f in columns]
    assert [name for name in RANKER_FEATURES if name in RANKER_COLUMNS] == RANKER_COLUMNS
    assert {f.name: float(f.default) for f in columns} == DEFAULT_FEATURES
    assert list(DEFAULT_FEATURES) == list(RANKER_FEATURES)
    assert DEFAULT_FEATURES[fc.ITEM_AVAILABLE] == 1.0  # an unknown item counts as available


def test_the_feast_schema_and_service_are_the_stored_declarations() -> None:
    from feast.types import Array, Float64, Int64, String

    from components.features import definitions

    feast_type = {
        Dtype.INT64: Int64,
        Dtype.FLOAT64: Float64,
        Dtype.STRING: String,
        Dtype.INT64_LIST: Array(Int64),
    }
    for schema, entity in (
        (definitions.USER_SCHEMA, USER_ENTITY),
        (definitions.ITEM_SCHEMA, ITEM_ENTITY),
    ):
        declared = stored(entity)
        assert [field.name for field in schema] == [f.name for f in declared]
        assert [field.dtype for field in schema] == [feast_type[f.dtype] for f in declared]
        assert [field.description for field in schema] == [f.doc for f in declared]
    assert fc.USER_RECENT_ITEMS not in definitions.RANKER_USER_FEATURES  # serving's rule only
    service = set(definitions.RANKER_USER_FEATURES) | set(definitions.RANKER_ITEM_FEATURES)
    assert service == {
        f.name for f in FEATURES if f.source is Source.SNAPSHOT and f.ranker is not Ranker.NONE
    }
    # Every stored ranker column is served by the feature service.
    assert {f.name for f in FEATURES if f.source is Source.SNAPSHOT} & set(
        RANKER_FEATURES
    ) <= service


def test_the_online_defaults_are_the_declared_defaults() -> None:
    assert fc.USER_FEATURES == tuple(fc.USER_DEFAULTS) == tuple(f.name for f in stored(USER_ENTITY))
    assert fc.ITEM_FEATURES == tuple(fc.ITEM_DEFAULTS) == tuple(f.name for f in stored(ITEM_ENTITY))
    assert fc.USER_DEFAULTS[fc.USER_RECENT_ITEMS] == []
    assert fc.USER_DEFAULTS[fc.USER_EVENTS_ALL] == 0
    assert fc.ITEM_DEFAULTS[fc.ITEM_AVAILABLE] == 1
    assert fc.ITEM_DEFAULTS[fc.ITEM_CATEGORIES] == ""
    recent = next(f for f in FEATURES if f.name == fc.USER_RECENT_ITEMS)
    assert recent.online_default is not recent.online_default  # a fresh list per unknown id


def test_the_drift_job_compares_the_user_features_flagged_for_it() -> None:
    assert drift_config.USER_FEATURES == (fc.USER_EVENTS_7D, fc.USER_ITEMS_ALL)
    assert tuple(f.name for f in FEATURES if f.drift) == drift_config.USER_FEATURES
    assert set(drift_config.USER_FEATURES) <= set(fc.USER_FEATURES)


def test_names_are_unique() -> None:
    names = [f.name for f in FEATURES]
    assert len(names) == len(set(names))
    with pytest.raises(ValueError, match="declared twice"):
        fc._declare(FEATURES[0])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"dtype": Dtype.INT64, "default": 0.0}, "default"),
        ({"dtype": Dtype.INT64, "default": True}, "default"),
        ({"dtype": Dtype.STRING, "default": ""}, "numeric"),
        ({"dtype": Dtype.INT64, "default": 0, "entity": ITEM_ENTITY, "drift": True}, "drift"),
        (
            {
                "dtype": Dtype.FLOAT64,
                "default": 0.0,
                "source": Source.RANKING,
                "ranker": Ranker.NONE,
            },
            "stored",
        ),
    ],
)
def test_a_declaration_that_cannot_work_is_refused(kwargs: dict, error: str) -> None:
    fields = {"name": "x", "entity": USER_ENTITY, "doc": "", **kwargs}
    with pytest.raises((TypeError, ValueError), match=error):
        Feature(**fields)


def _events() -> tuple[pd.DataFrame, pd.DataFrame]:
    t = pd.Timestamp("2024-01-01", tz="UTC")
    events = pd.DataFrame(
        {
            USER_ID: pd.Series([1, 1, 2, 1], dtype="int64"),
            ITEM_ID: pd.Series([10, 11, 10, 12], dtype="int64"),
            EVENT_TYPE: "view",
            TIMESTAMP: [t + pd.Timedelta(days=d) for d in (0, 1, 2, 40)],
        }
    )
    items = pd.DataFrame(
        {
            ITEM_ID: pd.Series([10, 11, 12], dtype="int64"),
            TITLE: ["a", "b", "c"],
            CATEGORIES: ["Action|Comedy", "Drama", ""],
            AVAILABLE: [True, False, True],
            CREATED_AT: [t - pd.Timedelta(days=5)] * 3,
        }
    )
    return events, items


def test_the_builder_produces_every_stored_feature_with_its_declared_type() -> None:
    events, items = _events()
    t = pd.Timestamp("2024-03-01", tz="UTC")
    tables = dict(
        zip((USER_ENTITY, ITEM_ENTITY), build_feature_tables(events, items, [t]), strict=True)
    )
    python_type = {
        Dtype.INT64: int,
        Dtype.FLOAT64: float,
        Dtype.STRING: str,
        Dtype.INT64_LIST: list,
    }
    for entity, table in tables.items():
        assert len(table) > 0
        assert list(table.columns[2:]) == [f.name for f in stored(entity)]
        for feature in stored(entity):
            values = table[feature.name]
            assert values.notna().all(), feature.name
            for value in values:
                if feature.dtype is Dtype.INT64:
                    assert isinstance(value, int | np.integer), feature.name
                elif feature.dtype is Dtype.FLOAT64:
                    assert isinstance(value, float | np.floating), feature.name
                else:
                    assert isinstance(value, python_type[feature.dtype]), feature.name


def test_the_ranker_matrix_computes_every_declared_column() -> None:
    events, items = _events()
    users, item_rows = build_feature_tables(events, items, [pd.Timestamp("2024-03-01", tz="UTC")])
    pairs = pd.DataFrame({USER_ID: [1, 2], ITEM_ID: [10, 12], fc.RETRIEVAL_SCORE: [0.5, 0.1]})
    out = ranker_feature_frame(users, item_rows, pairs)
    assert list(out.columns) == list(RANKER_FEATURES)
    assert out.notna().all().all()


def test_docs_features_md_lists_the_declarations() -> None:
    text = DOC.read_text()
    assert fc.with_table(text) == text, (
        "run: python -m components.features.columns --write docs/features.md"
    )
    for feature in FEATURES:
        assert f"| `{feature.name}` |" in text


def test_the_table_marks_columns_inputs_and_drift() -> None:
    table = fc.markdown_table()
    row = next(line for line in table.splitlines() if line.startswith("| `user_events_7d` |"))
    assert "| column | yes |" in row
    row = next(line for line in table.splitlines() if line.startswith("| `user_recent_items` |"))
    assert "| `[]` |" in row and "| none |" in row
