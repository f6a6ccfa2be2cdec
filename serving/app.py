"""The HTTP ingress (FastAPI inside Ray Serve) and the typed builder.

Graph: ``Ingress`` -> ``Retrieval`` -> ``Ranking`` (which re-ranks). Retrieval's response feeds
Ranking's handle unawaited, so the ingress awaits once.
``build(args: ServeArgs)`` is the one door for settings (``serve run serving.app:build`` or the
``import_path`` of ``serve_config.yaml``); ``serving.local.serve_locally`` starts it on a local
Ray.

No ``from __future__ import annotations`` here: Ray Serve and FastAPI read these annotations
at run time (the builder's ``ServeArgs`` and the routes' body models).
"""

import asyncio
import json
import logging
from typing import Any

import pandas as pd
from fastapi import FastAPI, HTTPException, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from components.data.columns import ITEM_ID
from components.data.contract import ID_PATTERN, MAX_ID_LENGTH
from components.data.item_ids import (
    answer_ids,
    external_form,
    internal_item_id,
    is_hashed,
    try_internal,
)
from components.privacy.erasure import ErasureList
from components.privacy.ids import UserIds
from components.recommend.candidates import FALLBACK_RANKER
from components.recommend.candidates import Query as CandidateQuery
from components.recommend.catalog import (
    append_catalog_updates,
    catalog_frame,
    name_conflicts,
    names_of,
    read_catalog_updates,
)
from components.recommend.experiment import CHAMPION_ALIAS, Variant, assign_variant
from components.recommend.feedback import RecentEventIds, check_feedback, unknown_context_keys
from components.recommend.known_items import KnownItems
from components.recommend.prediction_log import PredictionLog, prediction_rows
from components.recommend.results import Recommendations, finalize
from serving.admin import ADMIN_RESPONSES, bearer, check_admin
from serving.config import RankingOptions, ServeArgs
from serving.deployments import Ranking, Retrieval
from serving.limits import DEFAULT_MAX_BODY_BYTES, BodyLimit
from serving.metrics import CONTENT_TYPE, RequestMetrics, process_metrics
from serving.schemas import (
    MAX_K,
    CatalogBody,
    CatalogResponse,
    ErasureResponse,
    ErrorBody,
    FeedbackBody,
    FeedbackResponse,
    Problem,
    Readiness,
    RecommendBody,
    RecommendedItem,
    RecommendResponse,
    RejectedEvent,
    SimilarItem,
    SimilarResponse,
)

log = logging.getLogger(__name__)

APP_NAME = "reco"
V1 = "/v1"

api = FastAPI(
    title="Recommendations",
    version="1.0.0",
    description="Two-tower retrieval (Milvus) + XGBoost ranking (Feast features) + re-ranking "
    "(business rules, MMR). Routes are versioned under /v1.",
)


# Ingress.__init__ sets the limit from its args; until then (and in tests) the default applies.
api.state.max_body_bytes = DEFAULT_MAX_BODY_BYTES
api.add_middleware(BodyLimit, limit=lambda: api.state.max_body_bytes)
api.add_middleware(RequestMetrics)  # added last, so outermost: it counts the limit's 413s too


def _error_message(errors: list[dict[str, Any]]) -> str:
    """One line naming each bad field, e.g. ``k: Input should be less than or equal to 100``."""
    parts = []
    for error in errors:
        loc = list(error.get("loc", ()))
        if error.get("type") == "json_invalid":  # loc is ("body", character position)
            where = f"body (character {loc[-1]})" if len(loc) > 1 else "body"
        else:
            where = ".".join(str(p) for p in loc if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


@api.exception_handler(RequestValidationError)
async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in error.errors()]
    return JSONResponse(
        status_code=422, content={"message": _error_message(errors), "detail": errors}
    )


# What each route can answer besides 200, documented in the OpenAPI schema (a code missing here
# is an API change the fuzzer in tests/integration/test_serving.py catches).
TOO_LARGE = {413: {"model": ErrorBody, "description": "body larger than the configured limit"}}
# FastAPI answers 400 itself for a body it cannot decode at all (e.g. not UTF-8).
UNREADABLE = {400: {"model": Problem, "description": "a body that cannot be decoded"}}
INVALID = {422: {"model": ErrorBody, "description": "invalid request: message names each field"}}


# A 503 the client may retry: the graph timed out or a replica died mid-request.
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds after which the request may be retried",
        "schema": {"type": "integer"},
    }
}


class GraphUnavailable(HTTPException):
    """No recommendation possible now (a replica died, the graph timed out): a 503 with
    ``Retry-After``."""

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(
            status_code=503, detail=detail, headers={"Retry-After": str(retry_after_s)}
        )


async def _within(response: Any, timeout_s: float) -> Any:
    """A handle response awaited for at most ``timeout_s``; cancelled past it."""
    try:
        return await asyncio.wait_for(response, timeout=max(timeout_s, 0.001))
    except TimeoutError:
        response.cancel()
        raise


async def recommend_through(
    retrieval: DeploymentHandle,
    ranking: DeploymentHandle,
    query: CandidateQuery,
    variant: Variant,
    defaults: RankingOptions,
    timeout_s: float,
    retry_after_s: int = 1,
) -> Recommendations:
    """Retrieval -> Ranking (which re-ranks) through the handles, awaited once, for at most
    ``timeout_s``. When Ranking fails (down, died mid-request, timed out), retrieval's pool is
    re-ranked here in retrieval order and marked degraded (``ranker``), with the re-ranking
    options of ``defaults`` where the variant sets none. Neither possible within the time:
    ``GraphUnavailable`` (503, ``Retry-After``)."""
    alias = variant.model_alias
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pool = retrieval.retrieve.remote(query, alias)
    try:
        return await _within(
            ranking.rank.remote(pool, alias, query, variant.mmr_lambda, variant.category_cap),
            timeout_s,
        )
    except Exception as error:  # noqa: BLE001 - ranking down: re-rank retrieval's order
        log.warning("graph failed (%r); retrying without the ranking stage", error)
    try:
        candidates = await _within(pool, deadline - loop.time())
    except Exception as error:  # noqa: BLE001 - nothing to serve from: say so, briefly
        log.error("no recommendation possible: %r", error)
        raise GraphUnavailable("recommendations unavailable, retry later", retry_after_s) from error
    result = finalize(
        candidates,
        query,
        defaults.mmr_lambda if variant.mmr_lambda is None else variant.mmr_lambda,
        defaults.category_cap if variant.category_cap is None else variant.category_cap,
    )
    if FALLBACK_RANKER not in result.fallbacks:
        result.fallbacks.append(FALLBACK_RANKER)
    return result


def context_refusal(context: dict[str, Any] | None, allowed: Any) -> JSONResponse | None:
    """422 (the ErrorBody shape) for context keys off the allow-list; None when all are on it."""
    extra = unknown_context_keys(context, allowed)
    if not extra:
        return None
    detail = [
        {"type": "context_key", "loc": ["body", "context", key], "msg": "key not allowed"}
        for key in extra
    ]
    message = f"context: keys not allowed {extra} (allowed: {sorted(allowed)})"
    return JSONResponse(status_code=422, content={"message": message, "detail": detail})


def erase_for(args: ServeArgs, users: UserIds, user_id: int) -> dict[str, int]:
    """``erase_user`` over the stores ``args`` names (the route's work, off the event loop)."""
    from components.features.store import feature_store
    from components.privacy.erasure import erase_user

    store = feature_store(args.feast_repo, args.feast_online_store, args.feast_project)
    redis = args.feast_online_store if (args.feast_online_store or "").startswith("redis") else None
    return erase_user(
        user_id,
        users,
        args.erased_users_file,
        args.event_log_dir,
        args.prediction_log_dir,
        store=store,
        redis_uri=redis,
    )


def process_handle(handle: DeploymentHandle) -> DeploymentHandle:
    """The same deployment's handle, made in this replica: a handle's transport (gRPC or Ray
    actor calls) is fixed by the Serve flags of the process that made it, and a handle passed
    to a constructor was made by whichever process built the app (locally, a driver that had
    imported Serve before ``init_ray`` set ``RAY_SERVE_ENV``). Made here, laptop and cluster
    call the deployments the same way."""
    return serve.get_deployment_handle(handle.deployment_name, handle.app_name)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("recording a served answer failed: %s", task.exception())


@serve.deployment(ray_actor_options={"num_cpus": 0.25}, max_ongoing_requests=64)
@serve.ingress(api)
class Ingress:
    def __init__(
        self,
        retrieval: DeploymentHandle,
        ranking: DeploymentHandle,
        args: ServeArgs,
    ) -> None:
        retrieval, ranking = process_handle(retrieval), process_handle(ranking)
        self._retrieval, self._ranking = retrieval, ranking
        self._ranking_defaults = args.ranking
        self._timeout_s, self._retry_after_s = args.handle_timeout_s, args.retry_after_s
        self._experiment = args.experiment
        self._args = args
        self._users = UserIds(bytes.fromhex(args.id_key))
        self._erasures = ErasureList(args.erased_users_file, self._users)
        self._erasures.refresh()
        self._context_keys = frozenset(args.context_keys)
        api.state.max_body_bytes = args.max_body_bytes
        self._event_log = args.event_log_dir
        self._catalog_updates = args.catalog_updates_dir
        self._event_ids = RecentEventIds()
        self._predictions = PredictionLog(
            args.prediction_log_dir,
            max_age_s=args.prediction_flush_s,
            erased=self._erased_among,
        )
        self._predictions.flush_periodically()  # loss window on kill -9: prediction_flush_s
        self._side_effects: set[asyncio.Task] = set()
        # Feedback is checked against this snapshot, not a call to Retrieval per request.
        # ... and answers name string-id items from it (components.data.item_ids).
        self._known_items = KnownItems(
            lambda: retrieval.catalog_ids.remote(),
            load_names=lambda: retrieval.catalog_names.remote(),
            load_fingerprint=lambda: retrieval.catalog_fingerprint.remote(),
        )

    def _erased_among(self, user_ids: set[int]) -> set[int]:
        """The erased users among ``user_ids`` (the list re-read at a flush when it changed: any
        replica's erasure holds here too)."""
        self._erasures.refresh()
        return set(self._erasures.erased_among(user_ids))

    def _after_response(self, user_id: int, variant: Variant, result: Recommendations) -> None:
        """Metrics and the prediction log of a served answer, in a task the response does not
        wait for (the side effects of issue 11's stage pipeline); a failure is logged only."""
        task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(self._record, user_id, variant, result)
        )
        self._side_effects.add(task)  # a reference until done: the loop keeps weak ones
        task.add_done_callback(self._side_effects.discard)
        task.add_done_callback(_log_failure)

    def _in_background(self, work: Any) -> None:
        """Run a coroutine the response does not wait for; a failure is logged only."""
        task = asyncio.get_running_loop().create_task(work)
        self._side_effects.add(task)
        task.add_done_callback(self._side_effects.discard)
        task.add_done_callback(_log_failure)

    async def _live_update(self, events: Any) -> None:
        """Accepted feedback to a Retrieval replica's live-update queue (the online store's user
        rows, docs/events.md); the event log already holds it."""
        if not await self._retrieval.apply_feedback.remote(events):
            log.warning("live updates queue full: %d events wait for training", len(events))

    def _record(self, user_id: int, variant: Variant, result: Recommendations) -> None:
        metrics = process_metrics()
        metrics.observe_deployments(result.timings)
        metrics.observe_stages(result.stages)
        metrics.observe_fallbacks(f"{V1}/recommend", result.fallbacks)
        metrics.set_models(result.versions, result.loaded_at)
        rows = prediction_rows(
            user_id,
            [i.item_id for i in result.items],
            [i.score for i in result.items],
            variant.name,
            json.dumps(result.versions, sort_keys=True),
        )
        self._predictions.add(rows)

    @api.post(
        f"{V1}/recommend",
        response_model=RecommendResponse,
        responses={
            **UNREADABLE,
            **TOO_LARGE,
            **INVALID,
            503: {
                "model": Problem,
                "description": "no recommendation possible now (graph down, a replica died "
                "mid-request or the answer took longer than the handle timeout): retry after "
                "Retry-After seconds",
                "headers": RETRY_AFTER,
            },
        },
    )
    async def recommend(self, body: RecommendBody) -> Any:
        """Top-k items for a user, with a reason each, the model versions and A/B variant."""
        refusal = context_refusal(body.context, self._context_keys)
        if refusal is not None:
            return refusal
        user_id = self._users(body.user_id)  # pseudonymous from here on
        variant = assign_variant(self._experiment, user_id)
        result = await recommend_through(
            self._retrieval,
            self._ranking,
            body.to_query(user_id),
            variant,
            self._ranking_defaults,
            self._timeout_s,
            self._retry_after_s,
        )
        self._after_response(user_id, variant, result)
        item_ids = await self._answer_ids([i.item_id for i in result.items])
        return RecommendResponse(
            user_id=body.user_id,
            items=[
                RecommendedItem(
                    item_id=item_id,
                    score=i.score,
                    reason=i.reason,
                    source=i.source,
                    title=i.title or None,
                )
                for item_id, i in zip(item_ids, result.items, strict=True)
            ],
            experiment=self._experiment.name,
            variant=variant.name,
            model_versions=result.versions,
            ranked_by=result.ranked_by,
            degraded=result.degraded,
            fallbacks=result.fallbacks,
            cold_start=result.cold_start,
        )

    @api.get(
        f"{V1}/items/{{item_id}}/similar",
        response_model=SimilarResponse,
        responses={
            404: {"model": Problem, "description": "an item the catalog does not know"},
            **INVALID,
        },
    )
    async def similar(
        self,
        item_id: str = Path(
            min_length=1,
            max_length=MAX_ID_LENGTH,
            pattern=ID_PATTERN,
            description="an integer in 1..2**63-1 or a string id (an SKU, a UUID)",
        ),
        k: int = Query(10, ge=1, le=MAX_K),
    ) -> SimilarResponse:
        """Nearest items by the item tower (404 for an item the catalog does not know). The
        id is an integer or the catalog's string id; answers name items the same way."""
        try:
            external = external_form(item_id)
        except ValueError as error:  # e.g. "0" or past int64: the 422 of any bad field
            detail = [{"type": "value_error", "loc": ("path", "item_id"), "msg": str(error)}]
            raise RequestValidationError(detail) from error
        found = await self._retrieval.similar.remote(internal_item_id(external), k)
        if found is None:
            raise HTTPException(status_code=404, detail=f"unknown item {external}")
        process_metrics().observe_fallbacks(f"{V1}/items/{{item_id}}/similar", found.fallbacks)
        item_ids = await self._answer_ids([i for i, _, _ in found.items])
        return SimilarResponse(
            item_id=external,
            items=[
                SimilarItem(item_id=named, score=s, title=t or None)
                for named, (_, s, t) in zip(item_ids, found.items, strict=True)
            ],
            model_versions=found.versions,
            degraded=bool(found.fallbacks),
            fallbacks=found.fallbacks,
        )

    @api.post(
        f"{V1}/feedback",
        response_model=FeedbackResponse,
        responses={
            **UNREADABLE,
            **TOO_LARGE,
            422: {
                "model": ErrorBody | FeedbackResponse,
                "description": "an invalid body (message), or every event rejected (reasons "
                "per event)",
            },
            503: {"model": Problem, "description": "feedback disabled or no catalog loaded"},
        },
    )
    async def feedback(self, body: FeedbackBody) -> Any:
        """Events validated one by one: valid ones are appended to the event log training
        reads; invalid ones come back with their index and reasons; retries of events already
        stored (same ``event_id``) are listed as duplicates and not stored again."""
        from components.data.io import append_events

        if self._event_log is None:
            raise HTTPException(status_code=503, detail="feedback is disabled (no event log)")
        # Only ids an event could be accepted with, as internal ids (the rest is rejected per
        # event anyway): an id past int64 would fail the catalog lookup, and the batch with it.
        candidates = sorted(
            {
                internal
                for e in body.events
                if isinstance(e, dict) and (internal := try_internal(e.get("item_id"))) is not None
            }
        )
        known = await self._known(candidates)
        self._erasures.refresh()  # one stat; re-read only when some replica erased a user
        checked = check_feedback(
            body.events,
            known_items=lambda ids: known & set(ids),
            variant_of=lambda user: (
                self._experiment.name,
                assign_variant(self._experiment, user).name,
            ),
            pseudonymize=self._users,
            context_keys=self._context_keys,
            stored_ids=self._event_ids,
            is_erased=self._erasures.is_erased,
        )
        # Reserved before the write (no await in between), so a concurrent retry is a duplicate;
        # forgotten if the write fails, so the client's retry is stored.
        self._event_ids.add(checked.event_ids)
        try:
            if len(checked.events):
                await asyncio.to_thread(append_events, self._event_log, checked.events)
        except BaseException:
            self._event_ids.forget(checked.event_ids)
            raise
        if len(checked.events):
            self._in_background(self._live_update(checked.events))
        response = FeedbackResponse(
            accepted=len(checked.accepted),
            duplicates=checked.duplicates,
            rejected=[RejectedEvent(index=r.index, reasons=r.reasons) for r in checked.rejected],
        )
        if not checked.accepted and not checked.duplicates:
            return JSONResponse(status_code=422, content=response.model_dump())
        return response

    @api.delete(
        f"{V1}/users/{{user_id}}",
        response_model=ErasureResponse,
        responses={**ADMIN_RESPONSES, **INVALID},
    )
    async def erase_user(
        self,
        user_id: str = Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN),
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),
    ) -> ErasureResponse:
        """Right to erasure (admin token): the user's events, online and offline features,
        cached results and prediction-log rows are removed, and later training runs leave them
        out. Idempotent. The id is the one clients send (``42`` and ``"42"`` are one user)."""
        check_admin(credentials, self._args.admin_token)
        internal = self._users(user_id)
        self._predictions.forget_users({internal})
        erased = await asyncio.to_thread(erase_for, self._args, self._users, internal)
        self._erasures.refresh()  # this ingress refuses the user's feedback from now on
        try:  # the replica reached hides them now, the others within their poll (seen_poll_s)
            await asyncio.wait_for(self._retrieval.refresh_erasures.remote(), self._timeout_s)
        except Exception as error:  # noqa: BLE001 - the erasure is done; the poll applies it
            log.warning("erasure stored, not applied to serving yet: %s", error)
        return ErasureResponse(user_id=user_id, erased=erased)

    @api.post(
        f"{V1}/catalog/items",
        response_model=CatalogResponse,
        responses={
            **UNREADABLE,
            **TOO_LARGE,
            **INVALID,
            **ADMIN_RESPONSES,
            409: {
                "model": Problem,
                "description": "a string id that maps to the internal id of a different string "
                "id the catalog (or a stored update) already holds (a hash collision): nothing "
                "is stored",
            },
            503: {"model": Problem, "description": "catalog updates are off (no update folder)"},
        },
    )
    async def catalog_items(
        self,
        body: CatalogBody,
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),
    ) -> CatalogResponse:
        """Admin: add items, or change known ones (``available: false`` takes an item out of
        answers), without a retrain. New items are embedded by the item tower's content path
        (their categories) into the served index; every Retrieval replica merges the update
        within its poll interval (seconds)."""
        check_admin(credentials, self._args.admin_token)
        if self._catalog_updates is None:
            raise HTTPException(status_code=503, detail="catalog updates are off")
        frame = catalog_frame(body.items)
        clashes = await self._name_conflicts(frame)
        if clashes:
            raise HTTPException(status_code=409, detail="; ".join(clashes))
        await asyncio.to_thread(append_catalog_updates, self._catalog_updates, frame)
        try:
            merged = bool(await self._retrieval.refresh_catalog.remote())
        except Exception as error:  # noqa: BLE001 - stored: the replicas' poll merges it
            log.warning("catalog update stored, not merged yet: %s", error)
            merged = False
        if merged:  # feedback about the new items is accepted from now on, not after a poll
            await self._known_items.reload()
        return CatalogResponse(accepted=len(frame), merged=merged)

    async def _name_conflicts(self, frame: pd.DataFrame) -> list[str]:
        """The update's string ids that collide with a different string the catalog holds
        (the snapshot, then Retrieval) or a stored update names: refused before it is stored.
        What this cannot see (Retrieval down, an update stored meanwhile) the replicas' merge
        refuses (``catalog.accepted_updates``)."""
        hashed = [i for i in frame[ITEM_ID].tolist() if is_hashed(i)]
        if not hashed:
            return []
        held = await self._answer_ids(hashed)
        known = {i: name for i, name in zip(hashed, held, strict=True) if isinstance(name, str)}
        _, stored = await asyncio.to_thread(read_catalog_updates, self._catalog_updates, known)
        return name_conflicts({**names_of(stored), **known}, frame)

    async def _answer_ids(self, item_ids: list[int]) -> list[int | str]:
        """Internal ids as clients name them (``components.data.item_ids``): string ids from
        the snapshot's names; one not there yet (an item added since) is asked of Retrieval,
        and left as the internal id if that fails."""
        held = self._known_items.names
        names = {i: held[i] for i in item_ids if i in held}
        missing = [i for i in item_ids if is_hashed(i) and i not in names]
        if missing:
            try:
                more = await _within(self._retrieval.catalog_names.remote(missing), self._timeout_s)
                names.update(more)
            except Exception as error:  # noqa: BLE001 - answer with what is known
                log.warning("string ids of %d items unknown here: %s", len(missing), error)
        return answer_ids(item_ids, names)

    async def _known(self, item_ids: list[int]) -> set[int]:
        """The ids the catalog holds: from the snapshot held here; without one (never loaded,
        or a catalog too large to hold), from Retrieval; neither: 503."""
        if not item_ids:
            return set()
        try:
            return await self._known_items.known(item_ids)
        except Exception as error:  # noqa: BLE001 - no snapshot: ask Retrieval directly
            log.info("no catalog snapshot (%s); asking Retrieval", error)
        try:
            return set(await self._retrieval.known_items.remote(item_ids))
        except Exception as error:  # noqa: BLE001 - no catalog loaded yet
            raise HTTPException(status_code=503, detail="item catalog unavailable") from error

    @api.get("/healthz")
    async def healthz(self) -> dict[str, str]:
        """Liveness: the ingress answers."""
        return {"status": "ok"}

    @api.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
    async def readyz(self) -> Any:
        """Readiness: a champion retriever, catalog and ranker are loaded."""
        retrieval, ranking = await asyncio.gather(
            self._retrieval.status.remote(), self._ranking.status.remote()
        )
        for status in (retrieval, ranking):
            champion = status["models"].get(CHAMPION_ALIAS)
            if champion:
                process_metrics().set_models(
                    {champion["name"]: champion["version"]},
                    {champion["name"]: champion["loaded_at"]},
                )
        process_metrics().observe_ranking_status(ranking)
        ready = bool(retrieval["ready"] and ranking["ready"])
        body = Readiness.of(
            ready,
            {"Retrieval": retrieval, "Ranking": ranking},
            {"catalog_snapshot": self._known_items.describe()["error"]},
        )
        return JSONResponse(status_code=200 if ready else 503, content=body.model_dump())

    @api.get("/metrics", include_in_schema=False)
    async def metrics(self) -> Response:
        return Response(process_metrics().exposition(), media_type=CONTENT_TYPE)

    def __del__(self) -> None:
        """Serve calls this when the replica shuts down (SIGTERM, scale-down, redeploy): the
        buffered prediction rows are written, and any still being recorded right after."""
        predictions = getattr(self, "_predictions", None)
        if predictions is not None:
            predictions.close()


def build(args: ServeArgs) -> Application:
    """The application: each deployment gets the arguments it needs and its live options."""
    if not isinstance(args, ServeArgs):
        args = ServeArgs.model_validate(args or {})
    retrieval = Retrieval.options(user_config=args.retrieval.model_dump()).bind(args)
    ranking = Ranking.options(user_config=args.ranking.model_dump()).bind(args)
    return Ingress.bind(retrieval, ranking, args)
