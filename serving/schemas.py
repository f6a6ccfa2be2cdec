"""The HTTP contract of the v1 routes (what /docs shows): requests refuse unknown fields."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from components.data.contract import MAX_CONTEXT_KEYS, ContextKey, ContextValue
from components.data.item_ids import ItemIdOut, RawItemId, internal_item_id
from components.privacy.ids import RawUserId
from components.recommend.candidates import Query
from components.recommend.catalog import MAX_UPDATE_ITEMS, CatalogItem, collisions
from components.recommend.feedback import EVENT_ID_PATTERN, MAX_EVENT_ID_LENGTH

Category = Annotated[str, StringConstraints(min_length=1, max_length=256)]
MAX_K = 100


class RecommendBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"user_id": 1, "k": 10, "categories": ["Books"]}]},
    )

    user_id: RawUserId
    k: Annotated[int, Field(strict=True, ge=1, le=MAX_K)] = 10
    context: dict[ContextKey, ContextValue] | None = Field(
        None,
        max_length=MAX_CONTEXT_KEYS,
        description="scalar values under allow-listed keys (the setting context_keys; "
        "others: 422); a 'category' key narrows popularity",
    )
    exclude_items: list[RawItemId] = Field(default_factory=list, max_length=1000)
    categories: list[Category] = Field(
        default_factory=list, max_length=20, description="only items in any of these"
    )

    def to_query(self, internal_user_id: int) -> Query:
        """The query the graph runs: the user as their pseudonymous internal id, items as
        their internal ids."""
        return Query(
            user_id=internal_user_id,
            k=self.k,
            categories=tuple(dict.fromkeys(self.categories)),
            exclude=tuple(internal_item_id(i) for i in self.exclude_items),
            context=dict(self.context or {}),
        )


class RecommendedItem(BaseModel):
    item_id: ItemIdOut
    score: float
    reason: str = Field(description='e.g. "because you watched X", "popular in Books"')
    source: str = Field(description="ann | covisit | popular")
    title: str | None = None


class RecommendResponse(BaseModel):
    user_id: int | str = Field(description="the user id as the client sent it")
    items: list[RecommendedItem]
    experiment: str
    variant: str
    model_versions: dict[str, str] = Field(description="registered model name -> version")
    ranked_by: str = Field(
        description="ranker | retrieval: retrieval order when the ranker is down (a fallback) "
        "or when validation found that this ranker version does not beat it (not a fallback)"
    )
    degraded: bool = Field(description="true when a fallback was used (see fallbacks)")
    fallbacks: list[str]
    cold_start: bool = Field(description="no history: popularity within categories/context")


class SimilarItem(BaseModel):
    item_id: ItemIdOut
    score: float
    title: str | None = None


class SimilarResponse(BaseModel):
    item_id: ItemIdOut
    items: list[SimilarItem]
    model_versions: dict[str, str]
    degraded: bool
    fallbacks: list[str]


class FeedbackBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {"user_id": 1, "item_id": 10, "event_type": "click"},
                        {
                            "user_id": 1,
                            "item_id": 11,
                            "event_type": "purchase",
                            "timestamp": "2026-01-01T12:00:00Z",
                            "context": {"device": "mobile"},
                            "event_id": "0b6f1c2e-7d4a-4e8e-9a51-3c2d1e0f9a77",
                        },
                    ]
                }
            ]
        },
    )

    events: list[Any] = Field(
        min_length=1,
        max_length=1000,
        description="each: user_id (an integer or a string, as in /v1/recommend), item_id "
        "(an integer or a string, as in exclude_items), event_type, timestamp?, context? "
        "(allow-listed keys), value?, "
        f"event_id? (an idempotency key: 1-{MAX_EVENT_ID_LENGTH} characters matching "
        f"{EVENT_ID_PATTERN}; a retry with the same id is stored once); validated one by one",
    )


class RejectedEvent(BaseModel):
    index: int
    reasons: list[str]


class FeedbackResponse(BaseModel):
    accepted: int = Field(description="events stored now")
    duplicates: list[int] = Field(
        default_factory=list,
        description="indices of events whose event_id was already stored (a retry): not stored "
        "again, and not an error",
    )
    rejected: list[RejectedEvent]


class FieldError(BaseModel):
    type: str
    loc: list[str | int] = Field(description='where, e.g. ["body", "k"]')
    msg: str


class ErrorBody(BaseModel):
    """A request refused as a whole: 422 (invalid; one entry per bad field) or 413 (too large;
    no entries)."""

    message: str = Field(description="one line naming each bad field, or the size limit")
    detail: list[FieldError]


class Problem(BaseModel):
    """A request that could not be answered: 400 (a body that cannot be decoded), 404 (an
    unknown item), 503 (unavailable)."""

    detail: str


class ErasureResponse(BaseModel):
    user_id: int | str = Field(description="the user id as the client sent it")
    erased: dict[str, int] = Field(
        description="rows removed per store (event_log, prediction_log, offline_features, "
        "online_features)"
    )


class Readiness(BaseModel):
    ready: bool = Field(description="a champion retriever, catalog and ranker are loaded")
    degraded: dict[str, str] = Field(
        default_factory=dict,
        description="every dependency serving without right now, by name (e.g. "
        '"Retrieval.online_store", "Ranking.ranker", "Ingress.catalog_snapshot"): why. '
        "Replicas retry these with backoff and recover without a restart.",
    )
    deployments: dict[str, Any]

    @classmethod
    def of(
        cls,
        ready: bool,
        deployments: dict[str, dict[str, Any]],
        ingress: dict[str, str | None] | None = None,
    ) -> "Readiness":
        """From each deployment's ``status()`` (its ``problems`` and last ``refresh_error``)
        and the ingress's own (name -> error or None)."""
        degraded: dict[str, str] = {}
        for name, status in deployments.items():
            for part, problem in (status.get("problems") or {}).items():
                degraded[f"{name}.{part}"] = str(problem)
            if status.get("refresh_error"):
                degraded[f"{name}.refresh"] = str(status["refresh_error"])
        for part, problem in (ingress or {}).items():
            if problem:
                degraded[f"Ingress.{part}"] = problem
        return cls(ready=ready, degraded=degraded, deployments=deployments)


class CatalogBody(BaseModel):
    """A catalog update (admin): new items, or new values for known ones."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"item_id": 90001, "title": "New", "categories": ["Books", "Sci-Fi"]},
                        {"item_id": 12, "available": False},
                        {"item_id": "SKU-0042-BLUE", "title": "Mug", "categories": ["Home"]},
                    ]
                }
            ]
        },
    )

    items: list[CatalogItem] = Field(min_length=1, max_length=MAX_UPDATE_ITEMS)

    @model_validator(mode="after")
    def _no_collisions(self) -> "CatalogBody":
        clashes = collisions(self.items)
        if clashes:
            raise ValueError("; ".join(clashes))
        return self


class CatalogResponse(BaseModel):
    accepted: int = Field(description="items written to the catalog update log")
    merged: bool = Field(
        description="a Retrieval replica merged the update already (the others within "
        "their poll interval, seconds)"
    )
