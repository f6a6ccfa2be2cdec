"""Column names and event vocabulary shared by every step, so no module spells them twice."""

USER_ID = "user_id"
ITEM_ID = "item_id"
EVENT_TYPE = "event_type"
TIMESTAMP = "timestamp"
CONTEXT = "context"
VALUE = "value"  # optional numeric payload (a rating, a dwell time); not needed by the models
# Optional client key of an event: a retried event carries the same id and is kept once.
EVENT_ID = "event_id"

TITLE = "title"
CATEGORIES = "categories"  # pipe-joined category names, e.g. "Action|Comedy" ("" = none)
AVAILABLE = "available"
CREATED_AT = "created_at"
# The catalog's string id of an item (an SKU, a UUID) where it has one; ITEM_ID is then its
# internal id (components.data.item_ids). Null for items named by an integer.
EXTERNAL_ID = "external_id"

INTERACTION_COLUMNS = (USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP)
OPTIONAL_INTERACTION_COLUMNS = (CONTEXT, VALUE, EVENT_ID)
ITEM_COLUMNS = (ITEM_ID, TITLE, CATEGORIES, AVAILABLE, CREATED_AT)

EVENT_TYPES = frozenset({"view", "click", "add_to_cart", "purchase", "rating", "impression_skip"})
CATEGORY_SEPARATOR = "|"

INTERACTIONS_FILE = "interactions.parquet"
ITEMS_FILE = "items.parquet"
PREDICTIONS_FILE = "predictions.parquet"  # (user_id, item_id, score, rank) as serving logs them

# The folder of a training run's MLflow artefacts that the drift job reads as its reference.
REFERENCE_ARTIFACT = "reference"
