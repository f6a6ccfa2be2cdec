"""Feast definitions: entities, the two feature views and the ranker's feature service.

Declared top to bottom in Feast's style. Entities are module-level objects; the sources, views
and service come from ``build_definitions(offline_dir)`` because the Parquet files live under
the configured state folder, which is known only at run time (no path is written down here).

TTL: snapshots are sparse (about 24 over the data's span; MovieLens covers 22 years, so they are
months apart) and a point-in-time join must still find the latest snapshot before a training
example. A TTL of ten years keeps every snapshot reachable; freshness is the snapshot cadence's
job, not the TTL's.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, Project
from feast.feast_object import FeastObject
from feast.types import Array, Float64, Int64, String
from feast.value_type import ValueType

from components.data.columns import ITEM_ID, USER_ID
from components.features.columns import (
    EVENT_TIMESTAMP,
    ITEM_AGE_DAYS,
    ITEM_AVAILABLE,
    ITEM_CATEGORIES,
    ITEM_ENTITY,
    ITEM_EVENTS_7D,
    ITEM_EVENTS_30D,
    ITEM_EVENTS_365D,
    ITEM_EVENTS_ALL,
    ITEM_TREND,
    ITEM_USERS_30D,
    ITEM_VIEW,
    RANKER_SERVICE,
    USER_CATEGORY_SHARES,
    USER_DAYS_SINCE_FIRST,
    USER_ENTITY,
    USER_EVENTS_7D,
    USER_EVENTS_30D,
    USER_EVENTS_365D,
    USER_EVENTS_ALL,
    USER_ITEMS_ALL,
    USER_RECENT_ITEMS,
    USER_TOP_CATEGORIES,
    USER_VIEW,
)

FEATURE_TTL = timedelta(days=3650)
USER_FEATURES_FILE = "user_features.parquet"
ITEM_FEATURES_FILE = "item_features.parquet"

user = Entity(
    name=USER_ENTITY,
    join_keys=[USER_ID],
    value_type=ValueType.INT64,
    description="A person who interacts with items.",
)
item = Entity(
    name=ITEM_ENTITY,
    join_keys=[ITEM_ID],
    value_type=ValueType.INT64,
    description="A catalog item.",
)

USER_SCHEMA = [
    Field(name=USER_EVENTS_7D, dtype=Int64),
    Field(name=USER_EVENTS_30D, dtype=Int64),
    Field(name=USER_EVENTS_365D, dtype=Int64),
    Field(name=USER_EVENTS_ALL, dtype=Int64),
    Field(name=USER_ITEMS_ALL, dtype=Int64, description="Distinct items ever."),
    Field(name=USER_DAYS_SINCE_FIRST, dtype=Float64),
    Field(name=USER_RECENT_ITEMS, dtype=Array(Int64), description="Most recent first."),
    Field(name=USER_TOP_CATEGORIES, dtype=String, description="Pipe-joined, by share."),
    Field(name=USER_CATEGORY_SHARES, dtype=String, description='"Action:0.4000|Comedy:0.2000"'),
]
ITEM_SCHEMA = [
    Field(name=ITEM_EVENTS_7D, dtype=Int64),
    Field(name=ITEM_EVENTS_30D, dtype=Int64),
    Field(name=ITEM_EVENTS_365D, dtype=Int64),
    Field(name=ITEM_EVENTS_ALL, dtype=Int64),
    Field(name=ITEM_USERS_30D, dtype=Int64),
    Field(name=ITEM_TREND, dtype=Float64, description="log((30d + 1) / (previous 30d + 1))."),
    Field(name=ITEM_AGE_DAYS, dtype=Float64),
    Field(name=ITEM_AVAILABLE, dtype=Int64, description="1 = can be recommended."),
    Field(name=ITEM_CATEGORIES, dtype=String),
]

# What the ranker reads: everything but the raw lists (the ranker uses affinities derived from
# them by `components.features.ranking`, which needs the category strings, not the id list).
RANKER_USER_FEATURES = [f.name for f in USER_SCHEMA if f.name != USER_RECENT_ITEMS]
RANKER_ITEM_FEATURES = [f.name for f in ITEM_SCHEMA]


def build_definitions(offline_dir: Path, project: str | None = None) -> list[FeastObject]:
    """Every Feast object of the repo, with sources reading Parquet files under ``offline_dir``."""
    offline_dir = Path(offline_dir).resolve()
    user_source = FileSource(
        name="user_features_source",
        path=str(offline_dir / USER_FEATURES_FILE),
        timestamp_field=EVENT_TIMESTAMP,
    )
    item_source = FileSource(
        name="item_features_source",
        path=str(offline_dir / ITEM_FEATURES_FILE),
        timestamp_field=EVENT_TIMESTAMP,
    )
    user_stats = FeatureView(
        name=USER_VIEW,
        entities=[user],
        ttl=FEATURE_TTL,
        schema=USER_SCHEMA,
        online=True,
        source=user_source,
        tags={"team": "reco"},
    )
    item_stats = FeatureView(
        name=ITEM_VIEW,
        entities=[item],
        ttl=FEATURE_TTL,
        schema=ITEM_SCHEMA,
        online=True,
        source=item_source,
        tags={"team": "reco"},
    )
    ranker_v1 = FeatureService(
        name=RANKER_SERVICE,
        features=[user_stats[RANKER_USER_FEATURES], item_stats[RANKER_ITEM_FEATURES]],
        description="Inputs of the XGBoost ranker, shared by training and serving.",
    )
    objects: list[FeastObject] = [
        user,
        item,
        user_source,
        item_source,
        user_stats,
        item_stats,
        ranker_v1,
    ]
    if project:
        objects.insert(0, Project(name=project, description="Recommendation features."))
    return objects
