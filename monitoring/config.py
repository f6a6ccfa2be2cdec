"""Names and defaults of the drift check, free of heavy imports (the CLI reads them at start-up).

Feature names are the columns of the Evidently report; see ``monitoring.drift`` for how each is
computed. Defaults are the policy the CronJob applies when run without options.
"""

from __future__ import annotations

from datetime import timedelta

from components.data.columns import CONTEXT, EVENT_TYPE
from components.features.columns import DRIFT_FEATURES

CATEGORY = "category"  # primary category of the consumed item
HOUR_OF_DAY = "hour_of_day"
ITEM_POPULARITY = "item_popularity"  # popularity percentile in the reference window
CLICK_RATE = "click_rate"  # per user: clicks / events
PURCHASE_RATE = "purchase_rate"  # per user: purchases / events
SCORE = "score"  # a score serving logged (column of the prediction log)

EVENT_FEATURES: tuple[str, ...] = (EVENT_TYPE, CATEGORY, CONTEXT, HOUR_OF_DAY, ITEM_POPULARITY)
USER_FEATURES: tuple[str, ...] = DRIFT_FEATURES  # Feast user features declared with drift=True
ENGAGEMENT_FEATURES: tuple[str, ...] = (CLICK_RATE, PURCHASE_RATE)
SCORE_FEATURES: tuple[str, ...] = (SCORE,)
WINDOW_FEATURES: tuple[str, ...] = EVENT_FEATURES + USER_FEATURES  # the share counts these
ALL_COLUMNS: tuple[str, ...] = WINDOW_FEATURES + ENGAGEMENT_FEATURES + SCORE_FEATURES

DEFAULT_WINDOW_DAYS = 7.0
DEFAULT_THRESHOLD = 0.5  # share of drifted window features that means drift
DEFAULT_KEY_FEATURES: tuple[str, ...] = (ITEM_POPULARITY, CATEGORY)  # each alone means drift
DEFAULT_COOLDOWN = timedelta(hours=24)
MIN_EVENTS = 500  # fewer events in a window is an error, not a finding
LOCK_STALE_AFTER = timedelta(hours=12)  # longer than any training run
