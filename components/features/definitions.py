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
    ITEM_ENTITY,
    ITEM_VIEW,
    RANKER_SERVICE,
    USER_ENTITY,
    USER_VIEW,
    Dtype,
    Feature,
    Ranker,
    stored,
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

FEAST_TYPES = {
    Dtype.INT64: Int64,
    Dtype.FLOAT64: Float64,
    Dtype.STRING: String,
    Dtype.INT64_LIST: Array(Int64),
}


def _schema(features: tuple[Feature, ...]) -> list[Field]:
    return [Field(name=f.name, dtype=FEAST_TYPES[f.dtype], description=f.doc) for f in features]


USER_SCHEMA = _schema(stored(USER_ENTITY))
ITEM_SCHEMA = _schema(stored(ITEM_ENTITY))

# What the ranker reads: its columns and the stored features it derives columns from (not the
# recent-items list, which only serving's already-seen rule uses).
RANKER_USER_FEATURES = [f.name for f in stored(USER_ENTITY) if f.ranker is not Ranker.NONE]
RANKER_ITEM_FEATURES = [f.name for f in stored(ITEM_ENTITY) if f.ranker is not Ranker.NONE]


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
