"""The real serving graph on a local Ray, over HTTP, with models from the tiny pipeline run.

Three applications run side by side on one Serve instance: the graph as deployed (``/``), the
graph with Milvus unreachable (``/nomilvus``) and with the online store unreachable
(``/nostore``). The trained state is copied first, so promoting a model here never touches the
state other integration tests share.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from components.data.columns import AVAILABLE, CONTEXT, ITEM_ID, USER_ID
from components.recommend.catalog import Catalog
from components.recommend.tables import (
    TABLES_ARTIFACT,
    ServingTables,
    load_serving_tables,
)
from components.settings import Settings

pytestmark = pytest.mark.integration

TINY_SOURCE = "synthetic:n_users=300,n_items=200,seed=1"  # tests/integration/conftest.py
K = 10
CAP = 3
USERS = [1, 2, 3, 5, 8, 13, 21, 34]  # recommendation checks (feedback uses other users)
COLD_USER = 10**9
ADMIN_TOKEN = "integration-admin-token"
ERASED_USER = 100  # in the training data, used by no other test here
LIVE_WAIT_S = 30.0  # bound on event -> next personalized answer (measured: docs/events.md)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def serving_state(trained_state: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A private copy of the trained state (registry, index, feature store)."""
    from components.retrieval.reader import folder_lock

    source, root = trained_state.state_dir, tmp_path_factory.mktemp("serving-state")
    shutil.copy2(source / "mlflow.db", root / "mlflow.db")
    shutil.copytree(source / "feast", root / "feast")
    # the user-id key training pseudonymized with: serving must map raw ids the same way
    shutil.copytree(source / "secrets", root / "secrets")
    with folder_lock(source / "milvus.db", timeout_s=30):
        shutil.copytree(
            source / "milvus.db", root / "milvus.db", ignore=shutil.ignore_patterns("LOCK")
        )
    return Settings(state_dir=root, data_dir=root / "data", serve_port=_free_port())


@pytest.fixture(scope="module")
def tables(serving_state: Settings) -> tuple[Path, ServingTables, pd.DataFrame]:
    """The serving tables the pipeline logged with the champion's run, and the data they were
    built from (the same tables serving downloads; ``tables_dir`` only backs them up)."""
    from components.data.io import load_source
    from components.registry import download_run_folder, registry_client, resolve_alias

    uri = serving_state.resolved_mlflow_uri
    champion = resolve_alias(registry_client(uri), serving_state.retrieval_model_name, "champion")
    assert champion is not None and champion.run_id
    folder = download_run_folder(
        uri, champion.run_id, TABLES_ARTIFACT, serving_state.state_dir / "tables"
    )
    assert folder is not None, "the training run logged no serving tables"
    interactions, _ = load_source(TINY_SOURCE)
    return folder, load_serving_tables(folder), interactions


def _broken_feast_repo(settings: Settings) -> Path:
    """The feature registry with an online store sqlite cannot open: the store is unreachable."""
    folder = settings.state_dir / "feast-broken"
    if not folder.exists():
        folder.mkdir()
        shutil.copy2(settings.resolved_feast_repo / "registry.db", folder / "registry.db")
        (folder / "online_store.db").mkdir()
    return folder


@pytest.fixture(scope="module")
def args(serving_state: Settings, tables):
    from serving.config import ServeArgs

    return ServeArgs.from_settings(
        serving_state,
        tables_dir=tables[0],
        admin_token=ADMIN_TOKEN,
        prediction_flush_s=1.0,
        retrieval={"refresh_interval_s": 1.0, "retire_after_s": 2.0, "seen_poll_s": 0.5},
        ranking={"refresh_interval_s": 1.0, "mmr_lambda": 0.8, "category_cap": CAP},
    )


@pytest.fixture(scope="module")
def urls(serving_state: Settings, args):
    """The graph as deployed at ``/`` and, beside it at ``/faulty``, the same graph with Milvus
    AND the online store unreachable (each fault alone: the in-process tests further down)."""
    import ray
    from ray import serve

    from serving.app import build
    from serving.local import init_ray, wait_until_ready

    faulty = args.model_copy(
        update={
            "milvus_uri": "http://127.0.0.1:1",
            "feast_repo": _broken_feast_repo(serving_state),
            "retrieval": args.retrieval.model_copy(update={"refresh_interval_s": 5.0}),
            "ranking": args.ranking.model_copy(update={"refresh_interval_s": 5.0}),
        }
    )
    init_ray(
        num_cpus=4,  # logical CPUs: two small graphs on a 2-core machine
        object_store_memory=200 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
    )
    serve.start(http_options={"host": "127.0.0.1", "port": serving_state.serve_port})
    base = f"http://127.0.0.1:{serving_state.serve_port}"
    serve.run_many(
        [
            serve.RunTarget(build(args), name="reco", route_prefix="/"),
            serve.RunTarget(build(faulty), name="faulty", route_prefix="/faulty"),
        ]
    )
    assert wait_until_ready(base, timeout_s=120), httpx.get(f"{base}/readyz").text
    yield {"main": base, "faulty": f"{base}/faulty"}
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="module")
def client(urls) -> httpx.Client:
    with httpx.Client(timeout=30.0) as http:
        yield http


def _seen(interactions: pd.DataFrame, user: int) -> set[int]:
    return set(interactions.loc[interactions[USER_ID] == user, ITEM_ID].tolist())


def _recommend(client: httpx.Client, url: str, **body) -> dict:
    response = client.post(f"{url}/v1/recommend", json=body)
    assert response.status_code == 200, response.text
    return response.json()


# --- the graph --------------------------------------------------------------------------------


def test_recommendations_are_k_unseen_available_items_within_the_category_cap(client, urls, tables):
    _, built, interactions = tables
    catalog = Catalog.from_items(built.items)
    for user in USERS:
        answer = _recommend(client, urls["main"], user_id=user, k=K)
        ids = [item["item_id"] for item in answer["items"]]
        assert len(ids) == K == len(set(ids))
        assert not set(ids) & _seen(interactions, user), user
        assert catalog.is_available(ids).all()
        primary = pd.Series(catalog.primary_categories(ids))
        assert primary.value_counts().max() <= CAP, primary.tolist()
        assert answer["degraded"] is False and answer["fallbacks"] == []
        assert set(answer["model_versions"]) == {"reco-two-tower", "reco-ranker"}
        assert answer["variant"] in {"control", "diverse"} and not answer["cold_start"]
        assert all(item["reason"] for item in answer["items"])
    sources = {
        item["source"]
        for u in USERS
        for item in _recommend(client, urls["main"], user_id=u)["items"]
    }
    assert "ann" in sources  # the Milvus path is really used


def test_unknown_user_gets_popularity(client, urls, tables):
    _, built, _ = tables
    answer = _recommend(client, urls["main"], user_id=COLD_USER, k=K)
    assert answer["cold_start"] is True and len(answer["items"]) == K
    assert {item["source"] for item in answer["items"]} == {"popular"}
    assert all(item["reason"].startswith("popular") for item in answer["items"])
    available = built.items[built.items[AVAILABLE]][ITEM_ID]
    top = built.popularity[built.popularity[ITEM_ID].isin(available)][ITEM_ID].head(50)
    assert {item["item_id"] for item in answer["items"]} <= set(top)


def test_categories_filter_and_exclude_list(client, urls, tables):
    _, built, _ = tables
    catalog = Catalog.from_items(built.items)
    category = catalog.primary[0]
    for user in (USERS[0], COLD_USER):
        answer = _recommend(client, urls["main"], user_id=user, k=3, categories=[category])
        ids = [item["item_id"] for item in answer["items"]]
        assert ids and catalog.in_categories(ids, [category]).all()
        again = _recommend(client, urls["main"], user_id=user, k=3, exclude_items=ids)
        assert not {item["item_id"] for item in again["items"]} & set(ids)


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b'{"user_id": 1, "k": ', "body"),
        (json.dumps({"user_id": 1, "k": 0}).encode(), "k"),
        (json.dumps({"user_id": 1, "k": 10000}).encode(), "k"),
        (json.dumps({"user_id": 1, "color": "red"}).encode(), "color"),
        (json.dumps({"user_id": "not an id"}).encode(), "user_id"),
        (json.dumps({"user_id": "x" * 129}).encode(), "user_id"),
        (json.dumps({"user_id": 2**63}).encode(), "user_id"),
        (json.dumps({"user_id": 1, "context": {"note": "x" * 300}}).encode(), "context"),
        (json.dumps({"user_id": 1, "context": {"email": "a@b.c"}}).encode(), "context"),
    ],
)
def test_bad_requests_get_422_with_a_message(client, urls, content, field):
    response = client.post(
        f"{urls['main']}/v1/recommend",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert field in response.json()["message"]


def test_an_oversized_body_gets_413_and_the_app_keeps_answering(client, urls):
    events = [{"user_id": 1, "item_id": 1, "event_type": "view", "context": {"n": "x" * 200}}]
    response = client.post(f"{urls['main']}/v1/feedback", json={"events": events * 8000})
    assert response.status_code == 413 and "larger than" in response.json()["message"]
    assert client.get(f"{urls['main']}/v1/items/{2**64}/similar").status_code == 422
    assert _recommend(client, urls["main"], user_id=1, k=3)["items"]


def test_similar_items_and_404_for_an_unknown_item(client, urls, tables):
    item = int(tables[1].popularity[ITEM_ID].iloc[0])
    response = client.get(f"{urls['main']}/v1/items/{item}/similar", params={"k": 5})
    assert response.status_code == 200
    body = response.json()
    ids = [i["item_id"] for i in body["items"]]
    assert len(ids) == 5 and item not in ids and body["degraded"] is False
    assert client.get(f"{urls['main']}/v1/items/987654/similar").status_code == 404
    assert client.get(f"{urls['main']}/v1/items/{item}/similar", params={"k": 0}).status_code == 422


def test_health_readiness_docs_and_metrics(client, urls):
    from serving.metrics import METRIC_NAMES

    assert client.get(f"{urls['main']}/healthz").json() == {"status": "ok"}
    ready = client.get(f"{urls['main']}/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert client.get(f"{urls['main']}/docs").status_code == 200
    paths = client.get(f"{urls['main']}/openapi.json").json()["paths"]
    assert {"/v1/recommend", "/v1/items/{item_id}/similar", "/v1/feedback"} <= set(paths)
    text = client.get(f"{urls['main']}/metrics").text
    for name in set(METRIC_NAMES) - {"reco_fallbacks_total", "reco_degraded_responses_total"}:
        assert name in text, name
    assert 'reco_requests_total{route="/v1/recommend",status="200"}' in text
    assert 'reco_deployment_latency_seconds_count{deployment="Ranking"}' in text
    # The versions /readyz reports as served (the drift test may have promoted new ones in the
    # shared state before this module started) are the ones /metrics exports.
    for deployment in ("Retrieval", "Ranking"):
        champion = ready.json()["deployments"][deployment]["models"]["champion"]
        assert (
            f'reco_model_info{{model="{champion["name"]}",version="{champion["version"]}"}} 1.0'
            in text
        )


# --- feedback ---------------------------------------------------------------------------------


def test_valid_feedback_reaches_the_next_training_run(
    client, urls, serving_state, tables, tmp_path
):
    from components.data.io import read_events
    from components.steps import ingest

    _, built, _ = tables
    items = built.items[ITEM_ID].tolist()
    before = len(read_events(serving_state.event_log_dir))
    events = [
        {"user_id": 250 + i, "item_id": int(items[i]), "event_type": "click"} for i in range(7)
    ]
    response = client.post(f"{urls['main']}/v1/feedback", json={"events": events})
    assert response.status_code == 200
    assert response.json() == {"accepted": 7, "duplicates": [], "rejected": []}
    stored = read_events(serving_state.event_log_dir)
    assert len(stored) == before + 7
    variants = {json.loads(c)["variant"] for c in stored[CONTEXT].tail(7)}
    assert variants <= {"control", "diverse"}
    summary = ingest(TINY_SOURCE, tmp_path / "i.parquet", tmp_path / "items.parquet", serving_state)
    assert summary["feedback_events"] == before + 7


def test_a_batch_with_invalid_events_keeps_the_valid_ones(client, urls, serving_state, tables):
    from components.data.io import read_events

    item = int(tables[1].items[ITEM_ID].iloc[0])
    before = len(read_events(serving_state.event_log_dir))
    events = [
        {"user_id": 260, "item_id": item, "event_type": "purchase", "value": 3.5},
        {"user_id": 260, "item_id": 999999, "event_type": "click"},
        {"user_id": 260, "item_id": item, "event_type": "teleport"},
        {
            "user_id": 261,
            "item_id": item,
            "event_type": "view",
            "timestamp": "2999-01-01T00:00:00Z",
        },
        {"user_id": 262, "item_id": item, "event_type": "view"},
        {"user_id": 263, "item_id": 2**70, "event_type": "view"},  # past int64: this one only
    ]
    response = client.post(f"{urls['main']}/v1/feedback", json={"events": events})
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2 and [r["index"] for r in body["rejected"]] == [1, 2, 3, 5]
    assert len(read_events(serving_state.event_log_dir)) == before + 2
    all_bad = client.post(f"{urls['main']}/v1/feedback", json={"events": [events[1]]})
    assert all_bad.status_code == 422 and all_bad.json()["accepted"] == 0


def test_a_retried_event_with_the_same_event_id_is_stored_once(client, urls, serving_state, tables):
    from components.data.columns import EVENT_ID
    from components.data.io import read_events

    item = int(tables[1].items[ITEM_ID].iloc[1])
    event_id = f"retry-{uuid.uuid4().hex}"
    event = {"user_id": 280, "item_id": item, "event_type": "click", "event_id": event_id}
    before = len(read_events(serving_state.event_log_dir))
    first = client.post(f"{urls['main']}/v1/feedback", json={"events": [event]})
    assert first.status_code == 200
    assert first.json() == {"accepted": 1, "duplicates": [], "rejected": []}
    # the client did not hear back and retries (twice in one batch, even): 200, nothing stored
    again = client.post(f"{urls['main']}/v1/feedback", json={"events": [event, event]})
    assert again.status_code == 200
    assert again.json() == {"accepted": 0, "duplicates": [0, 1], "rejected": []}
    stored = read_events(serving_state.event_log_dir)
    assert len(stored) == before + 1 and stored[EVENT_ID].tolist().count(event_id) == 1


def test_an_item_just_bought_is_not_recommended_again(client, urls):
    user = 270
    first = _recommend(client, urls["main"], user_id=user, k=K)["items"][0]["item_id"]
    event = {"user_id": user, "item_id": first, "event_type": "purchase"}
    assert client.post(f"{urls['main']}/v1/feedback", json={"events": [event]}).status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ids = [i["item_id"] for i in _recommend(client, urls["main"], user_id=user, k=K)["items"]]
        if first not in ids:
            break
        time.sleep(0.3)
    assert first not in ids


# --- faults -----------------------------------------------------------------------------------


def test_milvus_and_online_store_unreachable_still_answer_k_items_degraded(client, urls, tables):
    _, _, interactions = tables
    for user in USERS[:3]:
        answer = _recommend(client, urls["faulty"], user_id=user, k=K)
        ids = [item["item_id"] for item in answer["items"]]
        assert len(ids) == K and not set(ids) & _seen(interactions, user)
        assert answer["degraded"] is True
        assert sorted(answer["fallbacks"]) == ["milvus", "online_store"]
        assert "ann" not in {item["source"] for item in answer["items"]}
        assert "reco-ranker" in answer["model_versions"]  # the ranker ran, on default features
    similar = client.get(f"{urls['faulty']}/v1/items/{ids[0]}/similar", params={"k": 3}).json()
    assert len(similar["items"]) == 3 and similar["degraded"] is True
    metrics = client.get(f"{urls['faulty']}/metrics").text
    assert 'reco_fallbacks_total{reason="online_store"} 3.0' in metrics  # 3 recommendations
    assert 'reco_fallbacks_total{reason="milvus"} 4.0' in metrics  # and the similar items
    assert 'reco_degraded_responses_total{route="/v1/recommend"} 3.0' in metrics


def _in_process_answer(args, user: int):
    """One request through the deployments' plain functions, without Ray."""
    from components.privacy.ids import UserIds
    from components.recommend.candidates import Query
    from components.recommend.results import finalize
    from serving.runtime import load_ranking_runtime, load_retrieval_runtime

    scratch = args.scratch_dir / f"test-{uuid.uuid4().hex[:6]}"
    retrieval = load_retrieval_runtime(args, None, scratch)
    ranking = load_ranking_runtime(args, None, scratch)
    try:
        # the runtime takes internal ids: the ingress's mapping of the raw id, done here
        internal = UserIds(bytes.fromhex(args.id_key))(user)
        query = Query(user_id=internal, k=K)
        pools = retrieval.recommend(args.retrieval, [query], ["champion"])
        pool = ranking.rank(pools, ["champion"])[0]
        return finalize(pool, query, 0.8, CAP), retrieval.problems, ranking.problems
    finally:
        if retrieval.reader is not None:
            retrieval.reader.close()
        shutil.rmtree(scratch, ignore_errors=True)


def test_milvus_unreachable_alone_degrades_to_covisitation_and_popularity(args, tables):
    _, _, interactions = tables
    broken = args.model_copy(update={"milvus_uri": "http://127.0.0.1:1"})
    result, problems, _ = _in_process_answer(broken, USERS[0])
    assert set(problems) == {"milvus"}
    assert result.fallbacks == ["milvus"] and len(result.items) == K
    assert not {i.item_id for i in result.items} & _seen(interactions, USERS[0])


def test_online_store_unreachable_alone_uses_default_features(args, serving_state, tables):
    _, _, interactions = tables
    broken = args.model_copy(update={"feast_repo": _broken_feast_repo(serving_state)})
    result, _, _ = _in_process_answer(broken, USERS[0])
    assert result.fallbacks == ["online_store"] and len(result.items) == K
    assert {i.source for i in result.items} & {"ann"}  # Milvus still serves
    assert not {i.item_id for i in result.items} & _seen(interactions, USERS[0])


# --- model refresh ------------------------------------------------------------------------------


def promote_copy_of_champion(settings: Settings, tables_dir: Path, scratch: Path) -> dict[str, str]:
    """What a passing champion gate does, quickly: new versions of both models (copies of the
    champions) with a new Milvus collection and the serving tables in their run; then the
    champion aliases and the Milvus alias move to them."""
    import mlflow

    from components.features.ranking import DEFAULT_FEATURES, RANKER_FEATURES
    from components.mlflow_models import RankerPyfunc, TwoTowerPyfunc, model_dir_of
    from components.ranker.model import load_ranker
    from components.registry import (
        CHAMPION,
        configure_mlflow,
        download_model,
        log_model_dir,
        registry_client,
        tag_version,
    )
    from components.retrieval.build import IndexSpec, build_collection, swap_alias
    from components.retrieval.client import milvus_client, release_milvus
    from components.two_tower.export import load_two_tower

    uri = settings.resolved_mlflow_uri
    names = (settings.retrieval_model_name, settings.ranker_model_name)
    tower_dir, ranker_dir = (
        model_dir_of(download_model(uri, name, CHAMPION, scratch / name)) for name in names
    )
    tower = load_two_tower(tower_dir)
    catalog = load_serving_tables(tables_dir).items
    catalog = catalog[catalog[AVAILABLE]]
    ids, vectors = tower.item_embeddings(catalog[ITEM_ID].tolist())
    configure_mlflow(uri, "serving-refresh-test", settings.mlflow_artifact_root)
    with mlflow.start_run(run_name="promotion"):
        mlflow.log_artifacts(str(tables_dir), TABLES_ARTIFACT)
        first = int(ids[0])
        tower_version = log_model_dir(
            TwoTowerPyfunc(),
            tower_dir,
            names[0],
            pd.DataFrame({"user_id": [1], "history": [str(first)]}),
            tower.user_embeddings([1], [[first]]),
        )
        example = pd.DataFrame([DEFAULT_FEATURES])[list(RANKER_FEATURES)].astype(np.float32)
        ranker_version = log_model_dir(
            RankerPyfunc(), ranker_dir, names[1], example, load_ranker(ranker_dir).score(example)
        )
    milvus = milvus_client(settings.resolved_milvus_uri)
    try:
        spec = IndexSpec(
            alias=settings.milvus_collection_alias, dim=tower.embedding_dim, num_shards=1
        )
        collection = build_collection(
            milvus,
            spec,
            ids,
            vectors,
            catalog.set_index(ITEM_ID).loc[ids, "categories"].tolist(),
            [True] * len(ids),
            f"refresh_{uuid.uuid4().hex[:6]}",
            progress=False,
        )
        registry = registry_client(uri)
        versions = dict(zip(names, (tower_version, ranker_version), strict=True))
        for name, version in versions.items():
            tag_version(registry, name, version, {"milvus_collection": collection})
            registry.set_registered_model_alias(name, CHAMPION, version)
        swap_alias(milvus, settings.milvus_collection_alias, collection)
    finally:
        release_milvus(milvus, settings.resolved_milvus_uri)
    return versions


def test_promotion_under_load_fails_no_request(client, urls, serving_state, tables, tmp_path):
    before = _recommend(client, urls["main"], user_id=USERS[0])["model_versions"]
    results: list[tuple[int, dict | str]] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(timeout=30.0) as http:
            for i in range(3000):
                if stop.is_set():
                    return
                response = http.post(
                    f"{urls['main']}/v1/recommend", json={"user_id": USERS[i % len(USERS)], "k": 5}
                )
                ok = response.status_code == 200
                results.append((response.status_code, response.json() if ok else response.text))

    streamer = threading.Thread(target=stream)
    streamer.start()
    try:
        time.sleep(1.0)
        new = promote_copy_of_champion(serving_state, tables[0], tmp_path)
        assert new != before
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            latest = [r for _, r in results[-3:] if isinstance(r, dict)]
            if latest and all(r["model_versions"] == new for r in latest):
                break
            time.sleep(0.2)
        time.sleep(1.0)  # and some more requests on the new models
    finally:
        stop.set()
        streamer.join()
    assert len(results) >= 10, "the stream should span the promotion"
    failures = [r for r in results if r[0] != 200 or len(r[1]["items"]) != 5]
    assert not failures, failures[:3]
    versions = [r["model_versions"] for _, r in results]
    assert versions[0] == before and versions[-1] == new, (versions[0], versions[-1])
    assert not any(r["degraded"] for _, r in results)
    status = client.get(f"{urls['main']}/readyz").json()["deployments"]["Retrieval"]
    assert status["tables"].startswith("run:")  # the new run's serving tables are in use


def test_scores_returned_are_logged_for_the_drift_job(serving_state, client, urls):
    from components.recommend.prediction_log import COLUMNS

    time.sleep(1.1)
    _recommend(client, urls["main"], user_id=USERS[1])  # a flush is due, after the response
    deadline = time.monotonic() + 10
    while not (files := sorted(serving_state.prediction_log_dir.glob("*.parquet"))):
        assert time.monotonic() < deadline, "no prediction log written"
        time.sleep(0.1)
    frame = pd.concat([pd.read_parquet(f) for f in files])
    assert tuple(frame.columns) == COLUMNS
    assert frame["rank"].min() == 1 and frame["score"].notna().all()
    assert set(frame["variant"]) <= {"control", "diverse"}


# --- privacy ------------------------------------------------------------------------------------


def test_string_and_integer_ids_are_one_user_and_the_response_echoes_the_id_sent(client, urls):
    as_int = _recommend(client, urls["main"], user_id=USERS[2], k=K)
    as_text = _recommend(client, urls["main"], user_id=str(USERS[2]), k=K)
    assert as_int["user_id"] == USERS[2] and as_text["user_id"] == str(USERS[2])
    assert [i["item_id"] for i in as_int["items"]] == [i["item_id"] for i in as_text["items"]]
    assert as_int["cold_start"] is False
    uuid_user = _recommend(client, urls["main"], user_id=str(uuid.uuid4()), k=K)
    assert uuid_user["cold_start"] is True and len(uuid_user["items"]) == K


def _user_traces(settings: Settings, user_ids: list[int]) -> dict[str, int]:
    """Rows holding any of ``user_ids`` in every store the platform writes."""
    import sqlite3

    from components.data.io import read_events
    from components.features.columns import USER_VIEW
    from components.features.store import FOUND, feature_store, online_features
    from components.privacy.erasure import _entity_key

    store = feature_store(
        settings.resolved_feast_repo, settings.feast_online_store, settings.feast_project
    )
    events = read_events(settings.event_log_dir)
    files = sorted(settings.prediction_log_dir.glob("*.parquet"))
    predictions = pd.concat([pd.read_parquet(f) for f in files]) if files else pd.DataFrame()
    offline = pd.read_parquet(store.get_feature_view(USER_VIEW).batch_source.path)
    users, _ = online_features(store, user_ids, [])
    online_db = Path(store.config.online_store.path)
    with sqlite3.connect(online_db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = sum(
            conn.execute(f'SELECT COUNT(*) FROM "{t}" WHERE entity_key = ?', (key,)).fetchone()[0]
            for t in tables
            for key in (_entity_key(u, 3) for u in user_ids)
        )
    return {
        "event_log": int(events[USER_ID].isin(user_ids).sum()),
        "prediction_log": int(predictions[USER_ID].isin(user_ids).sum()) if len(predictions) else 0,
        "offline_features": int(offline[USER_ID].isin(user_ids).sum()),
        "online_features": int(users[FOUND].sum()) + rows,
    }


def test_erasure_needs_the_admin_token_then_leaves_nothing_of_the_user(
    client, urls, serving_state, tables, tmp_path
):
    from components.steps import ingest

    raw, internal = ERASED_USER, serving_state.user_ids()(ERASED_USER)
    item = int(tables[1].items[ITEM_ID].iloc[2])
    event = {"user_id": raw, "item_id": item, "event_type": "click"}
    assert client.post(f"{urls['main']}/v1/feedback", json={"events": [event]}).status_code == 200
    _recommend(client, urls["main"], user_id=raw, k=K)
    time.sleep(1.1)
    _recommend(client, urls["main"], user_id=raw, k=K)  # the flush of the first is due
    deadline = time.monotonic() + 10
    while _user_traces(serving_state, [internal])["prediction_log"] == 0:
        assert time.monotonic() < deadline, "no prediction log rows of the user"
        time.sleep(0.2)
    before = _user_traces(serving_state, [internal])
    assert all(before.values()), before  # the user is in every store, under the internal id
    assert not any(_user_traces(serving_state, [raw]).values())  # the raw id never is

    route = f"{urls['main']}/v1/users/{raw}"
    assert client.delete(route).status_code == 401
    wrong = client.delete(route, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 403
    after = _user_traces(serving_state, [internal])  # the periodic flush may still add rows
    assert all(after[store] >= count for store, count in before.items()), (before, after)

    erased = client.delete(route, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert erased.status_code == 200, erased.text
    assert erased.json()["user_id"] == str(raw) and erased.json()["erased"]["event_log"] >= 1
    time.sleep(1.5)  # a request in flight at the erasure may still flush: dropped at flush
    _recommend(client, urls["main"], user_id=USERS[0], k=K)
    # the user's next event is not stored (reason given), so the erasure holds
    again = client.post(f"{urls['main']}/v1/feedback", json={"events": [event]})
    assert again.status_code == 422, again.text
    assert again.json()["rejected"] == [{"index": 0, "reasons": ["user_id: user erased"]}]
    assert not any(_user_traces(serving_state, [internal, raw]).values())
    # a later training run's data holds nothing of them (the source still does: dropped)
    ingest(TINY_SOURCE, tmp_path / "i.parquet", tmp_path / "items.parquet", serving_state)
    ingested = pd.read_parquet(tmp_path / "i.parquet")
    assert not ingested[USER_ID].isin([internal, raw]).any()
    assert ingested[USER_ID].isin([serving_state.user_ids()(USERS[0])]).any()


# --- the API fuzzer (last: it posts arbitrary feedback, which no other test here may see) -------

FUZZ_EXAMPLES = 60  # per route and generation mode: ~500 requests, 15-30 s here


# --- live state and catalog updates (no retrain) ----------------------------------------------


def _until(check, wait_s: float = LIVE_WAIT_S, every_s: float = 0.2):
    """Poll ``check()`` until it returns something truthy; returns it and the seconds waited."""
    started = time.monotonic()
    while True:
        found = check()
        if found or time.monotonic() - started > wait_s:
            return found, time.monotonic() - started
        time.sleep(every_s)


def test_clicks_make_a_new_user_personalized_without_a_retrain(client, urls, tables):
    _, built, interactions = tables
    user = 5_000_001
    popular = _recommend(client, urls["main"], user_id=user, k=K)
    assert popular["cold_start"] is True
    # The user clicks what a known user liked (a skip too: it never enters the history).
    busiest = interactions.groupby(USER_ID)[ITEM_ID].nunique().idxmax()
    liked = interactions.loc[interactions[USER_ID] == busiest, ITEM_ID].drop_duplicates()
    events = [{"user_id": user, "item_id": int(i), "event_type": "click"} for i in liked[:5]]
    events.append({"user_id": user, "item_id": int(liked.iloc[5]), "event_type": "impression_skip"})
    posted = time.monotonic()
    response = client.post(f"{urls['main']}/v1/feedback", json={"events": events})
    assert response.status_code == 200 and response.json()["accepted"] == 6

    def personalized():
        answer = _recommend(client, urls["main"], user_id=user, k=K)
        return answer if not answer["cold_start"] else None

    answer, waited = _until(personalized)
    assert answer, f"still cold_start {LIVE_WAIT_S} s after the feedback"
    print(f"live path: feedback -> personalized answer in {time.monotonic() - posted:.2f} s")
    ids = [item["item_id"] for item in answer["items"]]
    assert ids != [item["item_id"] for item in popular["items"]]
    assert "ann" in {item["source"] for item in answer["items"]}  # the user tower's candidates
    assert not set(ids) & set(liked[:6].tolist())  # clicked and skipped items are seen


def _catalog(client: httpx.Client, url: str, items: list[dict], token: str | None = ADMIN_TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(f"{url}/v1/catalog/items", json={"items": items}, headers=headers)


def test_a_catalog_update_adds_items_and_takes_items_out_without_a_retrain(client, urls, tables):
    _, built, _ = tables
    url = urls["main"]
    new = [900_001, 900_002]
    known_category = Catalog.from_items(built.items).primary[0]
    items = [
        {"item_id": i, "title": f"New {i}", "categories": [known_category, "Fresh"]} for i in new
    ]
    assert _catalog(client, url, items, token=None).status_code == 401
    assert _catalog(client, url, items, token="wrong").status_code == 403
    assert client.get(f"{url}/v1/items/{new[0]}/similar").status_code == 404
    started = time.monotonic()
    response = _catalog(client, url, items)
    assert response.status_code == 200, response.text
    print(f"catalog update: route answered (merged) in {time.monotonic() - started:.2f} s")
    assert response.json() == {"accepted": 2, "merged": True}

    # Embedded by the content path into the served index: same categories, nearest neighbours.
    similar = client.get(f"{url}/v1/items/{new[0]}/similar", params={"k": 5})
    assert similar.status_code == 200, similar.text
    assert similar.json()["items"][0]["item_id"] == new[1]
    # Recommendable: a request for the new category gets them (popularity and the index).
    fresh = _recommend(client, url, user_id=USERS[1], k=5, categories=["Fresh"])
    assert {item["item_id"] for item in fresh["items"]} == set(new)
    # Feedback about a new item is accepted.
    event = {"user_id": 5_000_002, "item_id": new[0], "event_type": "click"}
    feedback = client.post(f"{url}/v1/feedback", json={"events": [event]})
    assert feedback.status_code == 200 and feedback.json()["accepted"] == 1

    # Taken out: an item of a user's answer, marked unavailable, leaves it.
    user = 55
    top = _recommend(client, url, user_id=user, k=K)["items"][0]["item_id"]
    marked = _catalog(
        client, url, [{"item_id": top, "available": False}, {"item_id": new[0], "available": False}]
    )
    assert marked.status_code == 200

    def gone():
        ids = [i["item_id"] for i in _recommend(client, url, user_id=user, k=K)["items"]]
        fresh_ids = [
            i["item_id"]
            for i in _recommend(client, url, user_id=USERS[1], k=5, categories=["Fresh"])["items"]
        ]
        return top not in ids and fresh_ids == [new[1]]

    taken_out, waited = _until(gone)
    assert taken_out
    print(f"catalog update: unavailable item out of answers after {waited:.2f} s")
    assert client.get(f"{url}/v1/items/{new[1]}/similar").json()["items"][0]["item_id"] != new[0]


def test_a_catalog_of_string_skus_is_served_and_answered_by_its_ids(
    client, urls, args, tables, tmp_path
):
    """SKUs added through the admin route and through a catalog file (what `reco catalog add`
    writes) are recommended, similar and accepted in feedback by their strings; answers name
    them by their strings, never by the internal ids."""
    from components.recommend.catalog import append_catalog_updates, read_catalog_file

    _, built, _ = tables
    url = urls["main"]
    # categories no other added item has: the SKUs are each other's nearest (the content path)
    known = sorted({c for cs in Catalog.from_items(built.items).categories for c in cs})
    categories = [*known[-2:], "Skus"]
    skus = ["SKU-0042-BLUE", "SKU-0042-RED"]
    items = [{"item_id": s, "title": s, "categories": categories} for s in skus]
    response = _catalog(client, url, items)
    assert response.status_code == 200 and response.json()["merged"], response.text
    # an update of a held SKU by its own string is no collision (the route checks the names)
    again = _catalog(client, url, [{"item_id": skus[0], "title": skus[0]}])
    assert again.status_code == 200, again.text

    similar = client.get(f"{url}/v1/items/{skus[0]}/similar", params={"k": 3})
    assert similar.status_code == 200, similar.text
    assert similar.json()["item_id"] == skus[0]
    assert similar.json()["items"][0]["item_id"] == skus[1]
    answer = _recommend(client, url, user_id="user-sku-1", k=5, categories=["Skus"])
    assert {item["item_id"] for item in answer["items"]} == set(skus)
    excluded = _recommend(
        client, url, user_id="user-sku-1", k=5, categories=["Skus"], exclude_items=[skus[0]]
    )
    assert [item["item_id"] for item in excluded["items"]] == [skus[1]]
    events = [
        {"user_id": "user-sku-1", "item_id": skus[0], "event_type": "click"},
        {"user_id": "user-sku-1", "item_id": "SKU-NOT-IN-CATALOG", "event_type": "click"},
    ]
    feedback = client.post(f"{url}/v1/feedback", json={"events": events})
    assert feedback.status_code == 200, feedback.text
    assert feedback.json()["accepted"] == 1
    assert feedback.json()["rejected"][0]["reasons"] == ["item_id: unknown item SKU-NOT-IN-CATALOG"]
    assert client.get(f"{url}/v1/items/SKU-NOT-IN-CATALOG/similar").status_code == 404
    assert client.get(f"{url}/v1/items/0/similar").status_code == 422

    # A catalog file, as `reco catalog add` writes it: "007" is an SKU, merged by the poll.
    path = tmp_path / "skus.csv"
    path.write_text(f"item_id,title,categories\n007,Bond,{'|'.join(categories)}\n")
    frame, errors = read_catalog_file(path)
    assert not errors
    append_catalog_updates(args.catalog_updates_dir, frame)

    def served():
        answer = client.get(f"{url}/v1/items/007/similar", params={"k": 3})
        return answer.json() if answer.status_code == 200 else None

    found, waited = _until(served)
    assert found and found["item_id"] == "007", found
    assert {i["item_id"] for i in found["items"]} >= set(skus)
    print(f"catalog file with an SKU: answered by its string after {waited:.2f} s")


def test_fuzzing_the_served_schema_finds_no_server_error_or_undocumented_answer(urls):
    """Schemathesis generates valid and invalid requests for every route from the OpenAPI
    schema the app serves: no answer is a 5xx, has a status code the schema does not document,
    or a body that does not match the documented one."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode, checks

    schema = schemathesis.openapi.from_url(f"{urls['main']}/openapi.json")
    conformance = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/recommend", "/v1/feedback"}
    failures: list[str] = []  # every route is fuzzed even when one fails
    with requests.Session() as session:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @settings(
                    max_examples=FUZZ_EXAMPLES,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(mode))
                def fuzz(case) -> None:
                    case.call_and_validate(
                        base_url=urls["main"], session=session, checks=conformance, timeout=30
                    )

                try:
                    fuzz()
                except Unsatisfiable:  # a route without inputs has no invalid request
                    assert mode == GenerationMode.NEGATIVE and not operation.body
                except Exception as error:  # noqa: BLE001 - reported together below
                    failures.append(f"{operation.label} ({mode}): {error}")
    assert not failures, "\n\n".join(failures)
