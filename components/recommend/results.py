"""The last stage: re-rank the scored pool and say why each item is there."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from components.recommend.candidates import (
    FALLBACK_RANKER,
    RANKED_BY_RANKER,
    RANKED_BY_RETRIEVAL,
    CandidatePool,
    Query,
)
from components.recommend.reasons import reason
from components.reranking.rerank import rerank


@dataclass(frozen=True)
class Recommended:
    item_id: int
    score: float
    reason: str
    source: str
    title: str = ""
    action: str = ""  # the ranker's dominant action for the item ("" when it did not order it)


@dataclass
class Recommendations:
    user_id: int
    items: list[Recommended]
    cold_start: bool = False
    cap_relaxed: bool = False
    fallbacks: list[str] = field(default_factory=list)
    ranked_by: str = RANKED_BY_RETRIEVAL
    versions: dict[str, str] = field(default_factory=dict)
    loaded_at: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)  # request.STAGE_* -> seconds

    @property
    def degraded(self) -> bool:
        return bool(self.fallbacks)


def finalize(
    pool: CandidatePool,
    query: Query,
    mmr_lambda: float,
    category_cap: int | None,
    stage: str = "Reranking",
) -> Recommendations:
    """Rules + MMR over the ranker scores (retrieval order when the ranker stage was skipped),
    then a reason per item."""
    started = time.perf_counter()
    fallbacks = list(pool.fallbacks)
    scores = pool.scores
    if scores is None:
        scores = pool.retrieval_order()
        if FALLBACK_RANKER not in fallbacks:
            fallbacks.append(FALLBACK_RANKER)
    picked = rerank(
        pool.item_ids,
        scores,
        k=query.k,
        vectors=pool.vectors,
        categories=pool.primary_categories,
        seen=pool.seen,
        exclude=query.exclude,
        available=pool.available,
        allowed=pool.allowed,
        mmr_lambda=mmr_lambda,
        category_cap=category_cap,
    )
    # Only a ranker that ordered the answer names its action (retrieval-only answers: none).
    actions = (
        pool.actions if pool.scores is not None and pool.ranked_by == RANKED_BY_RANKER else None
    )
    items = []
    for i in picked.indices:
        item_id, anchor = int(pool.item_ids[i]), int(pool.anchors[i])
        categories = pool.item_categories[i] if pool.item_categories else []
        action = str(actions[i]) if actions is not None else ""
        items.append(
            Recommended(
                item_id=item_id,
                score=float(scores[i]),
                reason=reason(
                    str(pool.sources[i]),
                    pool.names.get(anchor, anchor),  # as the client names it
                    pool.titles.get(anchor, ""),
                    categories,
                    query.popularity_categories,
                    action,
                ),
                source=str(pool.sources[i]),
                title=pool.titles.get(item_id, ""),
                action=action,
            )
        )
    timings = dict(pool.timings)
    timings[stage] = time.perf_counter() - started
    return Recommendations(
        user_id=pool.user_id,
        items=items,
        cold_start=pool.cold_start,
        cap_relaxed=picked.cap_relaxed,
        fallbacks=fallbacks,
        ranked_by=pool.ranked_by if pool.scores is not None else RANKED_BY_RETRIEVAL,
        versions=dict(pool.versions),
        loaded_at=dict(pool.loaded_at),
        timings=timings,
        stages=dict(pool.stages),
    )
