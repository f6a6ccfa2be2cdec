"""The item index on a real Milvus standalone server (``milvus-server`` from the dev extra, started
once per module on loopback): what Milvus Lite ignores or forbids. The same project code as with
Lite; only the URI differs.

- ``num_shards`` is honoured (Lite always reports 1);
- the index is built with the spec's type and parameters, IVF_PQ included (Lite rejects it and
  falls back);
- an alias moves on the server while a reader keeps searching: no failed search, and the answers
  switch from the old collection to the new one at one point;
- ``drop_stale_collections`` keeps the collection the alias points at (Milvus 2.3.5, like Lite,
  would let it be dropped);
- serving's reader (``open_index_reader`` + ``make_search``) connects to the server directly.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pymilvus.exceptions import MilvusException

from components.retrieval.build import IndexSpec, build_collection, swap_alias
from components.retrieval.cleanup import drop_stale_collections
from components.retrieval.client import milvus_client, release_milvus
from components.retrieval.info import alias_target, collection_info
from components.retrieval.reader import make_search, open_index_reader, prepare_collection
from components.retrieval.search import search_items

pytestmark = pytest.mark.integration

N, DIM = 2000, 16
GENRES = ["Action", "Comedy", "Drama"]
OFFSET_B = 100_000  # collection B holds other ids: every answer tells which collection gave it


@pytest.fixture(scope="module")
def client(milvus_server_uri: str):
    client = milvus_client(milvus_server_uri)
    yield client
    release_milvus(client, milvus_server_uri)


def _catalog(seed: int, offset: int = 0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(N, dtype=np.int64) + 1 + offset
    categories = [GENRES[i % 3] + ("|" + GENRES[(i + 1) % 3] if i % 2 else "") for i in range(N)]
    available = [i % 5 != 0 for i in range(N)]
    return ids, vectors, categories, available


def _self_recall(client, name: str, ids, vectors, search_params) -> float:
    hits = search_items(client, name, vectors[:200], k=1, search_params=search_params)
    return float(np.mean([row[0][0] == i for row, i in zip(hits, ids[:200], strict=True)]))


@pytest.mark.parametrize(
    ("index_type", "index_params", "search_params"),
    [
        ("HNSW", {"M": 8, "efConstruction": 96}, {"ef": 48}),
        ("IVF_PQ", {"nlist": 32, "m": 8, "nbits": 8}, {"nprobe": 8}),  # Milvus Lite has no IVF_PQ
    ],
)
def test_shards_index_type_and_parameters_are_what_the_spec_says(
    client, index_type, index_params, search_params
):
    ids, vectors, cats, avail = _catalog(seed=0)
    spec = IndexSpec(
        alias=f"spec_{index_type.lower()}",
        dim=DIM,
        num_shards=2,
        index_type=index_type,
        index_params=index_params,
        search_params=search_params,
    )
    name = build_collection(client, spec, ids, vectors, cats, avail, "r1", progress=False)

    assert client.describe_collection(name)["num_shards"] == 2  # Milvus Lite reports 1
    index = client.describe_index(name, "embedding")
    assert index["index_type"] == index_type and index["metric_type"] == "IP"
    assert {key: int(index[key]) for key in index_params} == index_params
    assert index["indexed_rows"] == N and index["state"] == "Finished"

    info = collection_info(client, name)
    assert info["num_shards.requested"] == info["num_shards"] == 2
    assert info["index_type.requested"] == info["index_type"] == index_type
    assert info["index_params"] == index_params and info["search_params"] == search_params
    assert info["notes"] == [] and info["rows"] == N  # no fallback on a server
    assert _self_recall(client, name, ids, vectors, search_params) >= 0.9


def test_search_loads_a_released_collection_on_demand(client):
    ids, vectors, cats, avail = _catalog(seed=1)
    spec = IndexSpec(alias="released", dim=DIM)
    name = build_collection(client, spec, ids, vectors, cats, avail, "r1", progress=False)
    client.release_collection(name)
    with pytest.raises(MilvusException):  # the server really refuses a released collection
        client.search(name, data=vectors[:1], limit=1, anns_field="embedding")
    hits = search_items(client, name, vectors[:1], k=1)
    assert hits[0][0][0] == ids[0]


def test_alias_swap_on_the_server_while_a_reader_keeps_searching(client):
    ids_a, vectors, cats, avail = _catalog(seed=2)
    spec = IndexSpec(alias="live", dim=DIM)
    name_a = build_collection(client, spec, ids_a, vectors, cats, avail, "A", progress=False)
    swap_alias(client, spec.alias, name_a)
    queries = vectors[:4]
    answers: list[tuple[float, float, str]] = []  # (started, finished, which collection answered)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                hits = search_items(client, "live", queries, k=5)
            except Exception as error:  # noqa: BLE001 - counted, and the test fails on any
                errors.append(error)
                continue
            sources = {"B" if i > OFFSET_B else "A" for row in hits for i, _ in row}
            answers.append((started, time.monotonic(), "".join(sorted(sources))))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        name_b = build_collection(
            client, spec, ids_a + OFFSET_B, vectors, cats, avail, "B", progress=False
        )
        assert alias_target(client, "live") == name_a
        swapped_at = time.monotonic()
        assert swap_alias(client, "live", name_b) == name_a
        swapped_by = time.monotonic()
        deadline = time.monotonic() + 30
        while sum(start > swapped_by for start, _, _ in answers) < 20:
            assert time.monotonic() < deadline, "the reader stopped answering after the swap"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)

    assert errors == []
    sources = [source for _, _, source in answers]
    assert set(sources) == {"A", "B"}  # never one answer mixing both collections
    first_b = sources.index("B")
    assert "A" not in sources[first_b:]  # one switch, never back
    assert all(source == "A" for _, finished, source in answers if finished < swapped_at)
    assert all(source == "B" for started, _, source in answers if started > swapped_by)
    assert sum(finished < swapped_at for _, finished, _ in answers) >= 5  # it searched throughout

    # Milvus 2.3.5 (like Lite) lets anyone drop an aliased collection: the clean-up checks itself.
    assert drop_stale_collections(client, "live", keep=0) == [name_a]
    assert alias_target(client, "live") == name_b


def test_serving_reader_connects_to_the_server_directly(client, milvus_server_uri, tmp_path: Path):
    ids, vectors, cats, avail = _catalog(seed=3)
    spec = IndexSpec(alias="served", dim=DIM, search_params={"ef": 80})
    swap_alias(
        client,
        spec.alias,
        build_collection(client, spec, ids, vectors, cats, avail, "r1", progress=False),
    )

    reader = open_index_reader(milvus_server_uri, None, tmp_path / "scratch")
    try:
        assert reader.snapshot_dir is None and reader.uri == milvus_server_uri  # no Lite copy
        params = prepare_collection(reader, "served")
        assert params == {"ef": 80}
        search = make_search(reader, "served", params)
        by_id = dict(zip(ids.tolist(), zip(cats, avail, strict=True), strict=True))
        hits = search(vectors[1:3], 10, ["Drama"], [{int(ids[1])}] * 2)
    finally:
        reader.close()
    assert [len(row) for row in hits] == [10, 10]
    found = [i for row in hits for i, _ in row]
    assert int(ids[1]) not in found
    assert all(by_id[i][1] and "Drama" in by_id[i][0].split("|") for i in found)
    assert not (tmp_path / "scratch").exists()
