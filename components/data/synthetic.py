"""A deterministic synthetic shop: users, a catalog and an event log with learnable structure.

Why: tests, demos and drift drills need data of any size, with a known signal and a knob that
moves the distribution, without downloading anything.

Model:
- categories have unequal global shares; each item has 1-3 categories (a primary one), a latent
  vector near its primary category's centre and a power-law popularity (random rank, Zipf);
- each user prefers a few categories (a Dirichlet draw around the global shares) and has a
  latent vector near the mix of those categories' centres;
- a user's items are drawn without replacement (Gumbel top-k) from
  ``log pop + log(category affinity) + latent affinity``, so items that share users share
  categories and latent factors: co-occurrence beats popularity;
- engagements are grouped into sessions at uniform times over the period; every engagement is a
  ``view``, some go on to ``click`` -> ``add_to_cart`` -> ``purchase``, more often the stronger
  the user's latent affinity for the item; a view carries its dwell time in ``value`` (short,
  under 5 s, when the affinity is weak); some engagements end with a ``rating`` (``value``
  0.5-5 in half stars, from the affinity);
- ``impression_skip``: items shown to the user (drawn by popularity, as a naive feed would)
  that the user's preferences reject (below their median over the catalog) are skipped in
  the same session; every event type of the contract appears, so tests see the difference
  between positives and negatives (``components.data.events``);
- a few items are unavailable; the newest ``new_item_fraction`` are created in the last days of
  the period and have no interactions (cold start).

``string_ids`` names items and users as a shop's export would (``SKU-000042``, ``user-000042``):
the frames are then the raw files of a dataset folder, not validated ones (validation maps the
SKUs to internal ids, ``components.data.item_ids``; pseudonymization maps the users), so the
same shop runs through every step with string ids.

``drift`` in [0, 1] changes behaviour, not the world: the catalog, users and their factors
depend on ``seed`` only, so two calls with the same seed and different ``drift`` (or a later
``start``) describe the same shop. Drift rotates users' category preferences, moves the
popularity head to other items, and shifts the event mix towards clicks and away from
purchases. To simulate drift over time, generate a later window with ``drift > 0`` and append it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from components.data.columns import (
    AVAILABLE,
    CATEGORIES,
    CATEGORY_SEPARATOR,
    CONTEXT,
    CREATED_AT,
    EVENT_TYPE,
    ITEM_ID,
    TIMESTAMP,
    TITLE,
    USER_ID,
    VALUE,
)
from components.data.validation import validate_dataset

CATEGORY_NAMES = (
    "Electronics", "Books", "Home", "Garden", "Toys", "Sports", "Beauty", "Fashion",
    "Grocery", "Music", "Movies", "Games", "Health", "Automotive", "Office", "Pets",
    "Baby", "Jewelry", "Tools", "Outdoors", "Crafts", "Travel", "Software", "Art",
)  # fmt: skip
DEVICES = ("mobile", "desktop", "tablet")
FUNNEL = ("view", "click", "add_to_cart", "purchase")

_LATENT_DIM = 16
_ZIPF_EXPONENT = 0.9  # item popularity ~ rank^-s
_POP_WEIGHT = 0.8  # weight of log popularity in a user's item logits
_LATENT_WEIGHT = 1.5
_CATEGORY_CONCENTRATION = 0.25  # small = users focus on few categories
_SESSION_BREAK = 1 / 3  # chance an engagement starts a new session (mean session: 3 items)
_USERS_PER_BLOCK_CELLS = 4_000_000  # user x item cells per sampling block (memory bound)
_SKIPS_PER_ENGAGEMENT = 0.3  # shown-and-skipped items per engagement (mean)
_RATING_SHARE = 0.15  # share of engagements that end with a rating
_DWELL_LOG_MEAN = 2.5  # log seconds of a view's dwell at average affinity (~12 s)


def _lift(z: np.ndarray) -> np.ndarray:
    """A probability multiplier in (0, 2), 1 at average affinity: engagement follows taste."""
    return 2.0 / (1.0 + np.exp(-z))


def category_names(n_categories: int) -> list[str]:
    """Readable names for the first categories, numbered ones after the list runs out."""
    return [
        CATEGORY_NAMES[c] if c < len(CATEGORY_NAMES) else f"Category {c + 1}"
        for c in range(n_categories)
    ]


def _funnel_probabilities(drift: float) -> tuple[float, float, float]:
    """P(click | view), P(cart | click), P(purchase | cart); drift: more clicks, fewer buys."""
    return 0.35 * (1 + 0.8 * drift), 0.30 * (1 - 0.3 * drift), 0.50 * (1 - 0.6 * drift)


def generate_synthetic(
    n_users: int = 2000,
    n_items: int = 1000,
    n_categories: int = 12,
    interactions_per_user: float = 40,
    seed: int = 0,
    drift: float = 0.0,
    start: str = "2026-01-01",
    days: int = 90,
    unavailable_fraction: float = 0.05,
    new_item_fraction: float = 0.03,
    progress: bool = False,
    string_ids: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate validated ``(interactions, items)``; identical output for identical arguments.
    With ``string_ids``, the same shop with string item and user ids, unvalidated (see above).

    ``interactions_per_user`` is the mean number of events per user (all event types).
    ``progress`` shows a bar over the user blocks (only worth it for large sizes).
    """
    if not 0.0 <= drift <= 1.0:
        raise ValueError(f"drift must be in [0, 1], got {drift}")
    if n_users < 1 or n_items < 2 or n_categories < 1 or days < 1:
        raise ValueError("need n_users >= 1, n_items >= 2, n_categories >= 1, days >= 1")
    begin = pd.Timestamp(start, tz="UTC")
    # The world depends on the seed only; behaviour also on the window, so a later window of
    # the same shop is new traffic rather than a time-shifted copy.
    world = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    window_key = (begin.value // 60_000_000_000) & 0xFFFFFFFF, int(days)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, *window_key]))
    # Skips, dwell times and ratings draw from their own stream: the engagements stay the same.
    side = np.random.default_rng(np.random.SeedSequence([seed, 2, *window_key]))
    span_s = days * 86_400
    names = category_names(n_categories)

    # --- the world: categories, items, users (depends on the seed only) ---
    cat_share = world.permutation(np.arange(1, n_categories + 1, dtype=float) ** -0.7)
    cat_share /= cat_share.sum()
    centres = world.normal(size=(n_categories, _LATENT_DIM))

    primary = world.choice(n_categories, size=n_items, p=0.5 * cat_share + 0.5 / n_categories)
    n_cats = world.choice([1, 2, 3], size=n_items, p=[0.5, 0.35, 0.15])
    membership = np.zeros((n_items, n_categories))
    membership[np.arange(n_items), primary] = 1.0
    extra = world.random((n_items, n_categories))
    extra[np.arange(n_items), primary] = -1.0
    ranked_extra = np.argsort(-extra, axis=1)
    for k in range(1, min(3, n_categories)):
        has = n_cats > k
        membership[np.flatnonzero(has), ranked_extra[has, k - 1]] = 0.5
    item_vec = centres[primary] + 0.6 * world.normal(size=(n_items, _LATENT_DIM))
    pop_rank = world.permutation(n_items) + 1
    log_pop = -_ZIPF_EXPONENT * np.log(pop_rank)
    head_move = world.permutation(n_items)  # where drift moves each item's popularity

    n_new = int(round(new_item_fraction * n_items))
    new_items = world.choice(n_items, size=n_new, replace=False)
    old = np.setdiff1d(np.arange(n_items), new_items)
    n_unavailable = min(int(round(unavailable_fraction * n_items)), len(old))
    unavailable = world.choice(old, size=n_unavailable, replace=False)

    alpha = _CATEGORY_CONCENTRATION * n_categories * cat_share
    user_pref = world.dirichlet(np.maximum(alpha, 1e-3), size=n_users)
    user_vec = user_pref @ centres + 0.5 * world.normal(size=(n_users, _LATENT_DIM))
    rotate = max(1, n_categories // 3)
    device_pref = world.dirichlet([6.0, 3.2, 0.8], size=n_users)

    # --- behaviour under drift ---
    pref = (1 - drift) * user_pref + drift * np.roll(user_pref, rotate, axis=1)
    user_vec = user_vec + (pref - user_pref) @ centres
    item_log_pop = (1 - drift) * log_pop + drift * log_pop[head_move]
    p_click, p_cart, p_buy = _funnel_probabilities(drift)
    events_per_engagement = (
        1 + p_click * (1 + p_cart * (1 + p_buy)) + _SKIPS_PER_ENGAGEMENT + _RATING_SHARE
    )
    sampleable = np.ones(n_items, dtype=bool)
    sampleable[new_items] = False
    n_sampleable = int(sampleable.sum())
    if n_sampleable < 1:
        raise ValueError(f"new_item_fraction={new_item_fraction} leaves no item to interact with")

    mean_engagements = max(interactions_per_user / events_per_engagement, 1.0)
    engagements = 1 + rng.poisson(rng.gamma(1.5, (mean_engagements - 1) / 1.5, size=n_users))
    engagements = np.minimum(engagements, n_sampleable)

    block = max(1, _USERS_PER_BLOCK_CELLS // n_items)
    static_logits = _POP_WEIGHT * item_log_pop
    scale = _LATENT_WEIGHT / np.sqrt(_LATENT_DIM)
    users_out, items_out, skip_users, skip_items = [], [], [], []
    starts = range(0, n_users, block)
    for lo in tqdm(starts, desc="synthetic users", disable=not progress, unit="block"):
        hi = min(lo + block, n_users)
        logits = (
            static_logits
            + np.log(pref[lo:hi] @ membership.T + 1e-4)
            + scale * (user_vec[lo:hi] @ item_vec.T)
        )
        logits[:, ~sampleable] = -np.inf
        keys = logits + rng.gumbel(size=logits.shape)  # Gumbel top-k = draws w/o replacement
        k = engagements[lo:hi]
        top = np.argpartition(-keys, int(k.max()) - 1, axis=1)[:, : int(k.max())]
        top_keys = np.take_along_axis(keys, top, axis=1)
        top = np.take_along_axis(top, np.argsort(-top_keys, axis=1), axis=1)
        keep = np.arange(top.shape[1]) < k[:, None]
        # Chosen items come in preference order; time order must not follow it.
        shuffle = np.where(keep, rng.random(top.shape), np.inf)
        top = np.take_along_axis(top, np.argsort(shuffle, axis=1), axis=1)
        users_out.append(np.repeat(np.arange(lo, hi), k))
        items_out.append(top[keep])
        # Shown by popularity, rejected by taste: below the user's median preference.
        taste = logits - static_logits
        rejects = taste < np.nanmedian(np.where(np.isfinite(taste), taste, np.nan), axis=1)[:, None]
        shown = static_logits + side.gumbel(size=logits.shape)
        shown[~rejects] = -np.inf
        shown[:, ~sampleable] = -np.inf  # new items are not shown yet
        np.put_along_axis(shown, top, -np.inf, axis=1)  # never skip an engaged item
        n_skip = np.minimum(side.poisson(_SKIPS_PER_ENGAGEMENT * k), np.isfinite(shown).sum(axis=1))
        if n_skip.max() > 0:
            picked = np.argsort(-shown, axis=1)[:, : int(n_skip.max())]
            take = np.arange(picked.shape[1]) < n_skip[:, None]
            skip_users.append(np.repeat(np.arange(lo, hi), n_skip))
            skip_items.append(picked[take])
    user_idx = np.concatenate(users_out)
    item_idx = np.concatenate(items_out)
    n_eng = len(user_idx)

    # Sessions: consecutive engagements of a user, at uniform times over the period.
    first_of_user = np.r_[True, user_idx[1:] != user_idx[:-1]]
    new_session = first_of_user | (rng.random(n_eng) < _SESSION_BREAK)
    session = np.cumsum(new_session) - 1
    session_user = user_idx[new_session]
    session_offset = rng.uniform(0, span_s * 0.97, size=len(session_user))
    # Sort session times within each user so a user's engagements stay in draw order.
    order = np.lexsort((session_offset, session_user))
    session_offset = session_offset[order]
    device_cdf = np.cumsum(device_pref[session_user], axis=1)
    session_device = (rng.random((len(session_user), 1)) > device_cdf[:, :-1]).sum(axis=1)
    pos_in_session = np.arange(n_eng) - np.flatnonzero(new_session)[session]
    gaps = rng.exponential(90.0, size=n_eng) * (pos_in_session > 0)
    cum_gap = np.cumsum(gaps)
    cum_gap -= cum_gap[np.flatnonzero(new_session)][session]
    eng_time = session_offset[session] + 1.0 + cum_gap

    # The user's latent affinity for each engaged item, standardised: drives the funnel depth,
    # the dwell time and the rating.
    affinity = (user_vec[user_idx] * item_vec[item_idx]).sum(axis=1)
    z = (affinity - affinity.mean()) / max(float(affinity.std()), 1e-9) if n_eng else affinity
    lift = _lift(z)

    # Funnel: each engagement emits view, then maybe click, add_to_cart, purchase.
    depth = np.ones(n_eng, dtype=int)
    go = rng.random(n_eng) < p_click * lift
    depth += go
    go &= rng.random(n_eng) < p_cart * lift
    depth += go
    go &= rng.random(n_eng) < p_buy * lift
    depth += go
    event_eng = np.repeat(np.arange(n_eng), depth)
    step = np.arange(len(event_eng)) - np.repeat(np.cumsum(depth) - depth, depth)
    step_delay = np.where(step > 0, 2.0 + rng.exponential(20.0, size=len(event_eng)), 0.0)
    first_event = np.cumsum(depth) - depth
    elapsed = np.cumsum(step_delay)
    event_time = eng_time[event_eng] + elapsed - elapsed[first_event][event_eng]
    event_time = np.minimum(event_time, span_s - 1)

    dwell = np.exp(side.normal(_DWELL_LOG_MEAN + 0.8 * z, 0.8))
    value = np.where(step == 0, np.round(dwell[event_eng], 1), np.nan)

    # Ratings: after the engagement's last event, half stars from the affinity.
    rated = np.flatnonzero(side.random(n_eng) < _RATING_SHARE)
    stars = np.clip(np.round(2 * (3.5 + z[rated] + side.normal(0, 0.7, len(rated)))) / 2, 0.5, 5)
    last_event = np.cumsum(depth) - 1
    rating_time = np.minimum(event_time[last_event[rated]] + 30.0, span_s - 1)

    # Skips: in one of the user's sessions, a few seconds after one of their engagements.
    s_user = np.concatenate(skip_users) if skip_users else np.zeros(0, np.int64)
    s_item = np.concatenate(skip_items) if skip_items else np.zeros(0, np.int64)
    first_eng = np.searchsorted(user_idx, s_user)
    n_of_user = np.bincount(user_idx, minlength=n_users)[s_user]
    s_eng = first_eng + np.floor(side.random(len(s_user)) * n_of_user).astype(np.int64)
    skip_time = np.minimum(eng_time[s_eng] + 1.0 + side.exponential(5.0, len(s_eng)), span_s - 1)

    all_eng = np.concatenate([event_eng, rated, s_eng])
    interactions = pd.DataFrame(
        {
            USER_ID: user_idx[all_eng].astype("int64") + 1,
            ITEM_ID: np.concatenate([item_idx[event_eng], item_idx[rated], s_item]).astype("int64")
            + 1,
            EVENT_TYPE: np.concatenate(
                [
                    np.asarray(FUNNEL, dtype=object)[step],
                    np.full(len(rated), "rating", dtype=object),
                    np.full(len(s_eng), "impression_skip", dtype=object),
                ]
            ),
            TIMESTAMP: begin
            + pd.to_timedelta(
                np.floor(np.concatenate([event_time, rating_time, skip_time])), unit="s"
            ),
            CONTEXT: np.asarray(DEVICES, dtype=object)[session_device[session[all_eng]]],
            VALUE: np.concatenate([value, stars, np.full(len(s_eng), np.nan)]),
        }
    )
    interactions = interactions.sort_values([USER_ID, TIMESTAMP], kind="stable", ignore_index=True)

    created_offset = -world.uniform(0, 365, size=n_items) * 86_400
    created_offset[new_items] = span_s * (1 - world.uniform(0.0, 0.05, size=n_new)) - 1
    cat_rows, cat_cols = np.nonzero(membership)
    # Primary category first in each item's list.
    weight = membership[cat_rows, cat_cols]
    o = np.lexsort((cat_cols, -weight, cat_rows))
    cat_text = (
        pd.Series(np.asarray(names, dtype=object)[cat_cols[o]])
        .groupby(cat_rows[o])
        .agg(CATEGORY_SEPARATOR.join)
    )
    available = np.ones(n_items, dtype=bool)
    available[unavailable] = False
    items = pd.DataFrame(
        {
            ITEM_ID: np.arange(1, n_items + 1, dtype="int64"),
            TITLE: [f"{names[c]} item {i + 1}" for i, c in enumerate(primary)],
            CATEGORIES: cat_text.reindex(np.arange(n_items)).to_numpy(),
            AVAILABLE: available,
            CREATED_AT: begin + pd.to_timedelta(np.floor(created_offset), unit="s"),
        }
    )
    source = f"synthetic(seed={seed}, drift={drift})"
    interactions, items = validate_dataset(interactions, items, source)
    return named_by_strings(interactions, items) if string_ids else (interactions, items)


SKU_FORMAT = "SKU-{:06d}"
USER_FORMAT = "user-{:06d}"


def named_by_strings(
    interactions: pd.DataFrame, items: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Integer-named frames with every item and user id as a string (``SKU_FORMAT``,
    ``USER_FORMAT``): what a shop whose catalog uses SKUs hands over."""
    interactions, items = interactions.copy(), items.copy()
    for frame in (interactions, items):
        frame[ITEM_ID] = frame[ITEM_ID].map(SKU_FORMAT.format).astype(object)
    interactions[USER_ID] = interactions[USER_ID].map(USER_FORMAT.format).astype(object)
    return interactions, items
