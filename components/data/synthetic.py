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
  ``view``, some go on to ``click`` -> ``add_to_cart`` -> ``purchase``;
- a few items are unavailable; the newest ``new_item_fraction`` are created in the last days of
  the period and have no interactions (cold start).

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
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate validated ``(interactions, items)``; identical output for identical arguments.

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
    events_per_engagement = 1 + p_click * (1 + p_cart * (1 + p_buy))
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
    users_out, items_out = [], []
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

    # Funnel: each engagement emits view, then maybe click, add_to_cart, purchase.
    depth = np.ones(n_eng, dtype=int)
    go = rng.random(n_eng) < p_click
    depth += go
    go &= rng.random(n_eng) < p_cart
    depth += go
    go &= rng.random(n_eng) < p_buy
    depth += go
    event_eng = np.repeat(np.arange(n_eng), depth)
    step = np.arange(len(event_eng)) - np.repeat(np.cumsum(depth) - depth, depth)
    step_delay = np.where(step > 0, 2.0 + rng.exponential(20.0, size=len(event_eng)), 0.0)
    first_event = np.cumsum(depth) - depth
    elapsed = np.cumsum(step_delay)
    event_time = eng_time[event_eng] + elapsed - elapsed[first_event][event_eng]
    event_time = np.minimum(event_time, span_s - 1)

    interactions = pd.DataFrame(
        {
            USER_ID: user_idx[event_eng].astype("int64") + 1,
            ITEM_ID: item_idx[event_eng].astype("int64") + 1,
            EVENT_TYPE: np.asarray(FUNNEL, dtype=object)[step],
            TIMESTAMP: begin + pd.to_timedelta(np.floor(event_time), unit="s"),
            CONTEXT: np.asarray(DEVICES, dtype=object)[session_device[session[event_eng]]],
        }
    )

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
    return validate_dataset(interactions, items, source)
