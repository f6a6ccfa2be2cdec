"""String item ids at the HTTP edge (no Ray: the Ingress's methods with fake handles): ids map
in to internal ids, answers name items as the catalog does, the schema says so."""

import asyncio

import pytest
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from components.data import item_ids
from components.data.item_ids import HASHED_MAX, internal_item_id
from components.recommend.known_items import KnownItems
from components.recommend.request import Similar
from serving.schemas import CatalogBody, RecommendBody

SKU = "SKU-0042-BLUE"
SKU_ID = internal_item_id(SKU)
OTHER = internal_item_id("SKU-NEW")


class Call:
    """A handle method: ``remote`` returns an awaitable of ``function``'s result."""

    def __init__(self, function) -> None:
        self.function = function
        self.calls: list[tuple] = []

    def remote(self, *args):
        self.calls.append(args)

        async def answer():
            return self.function(*args)

        return asyncio.ensure_future(answer())


class Retrieval:
    def __init__(self, names: dict[int, str], up: bool = True) -> None:
        def catalog_names(ids=None):
            if not up:
                raise RuntimeError("replica died")
            return {i: names[i] for i in (ids or names) if i in names}

        def similar(item_id, k):
            if item_id not in (SKU_ID, 5):
                return None
            return Similar(item_id, [(5, 0.9, "Five"), (OTHER, 0.8, "")], [], {"tower": "3"})

        self.catalog_names = Call(catalog_names)
        self.similar = Call(similar)


def ingress(retrieval: Retrieval, held: dict[int, str]):
    """What the Ingress's item-id methods use: the handle, the snapshot, the timeout."""
    from serving.app import Ingress

    class Self:
        _retrieval = retrieval
        _known_items = KnownItems(lambda: None)
        _timeout_s = 5.0
        _answer_ids = Ingress.func_or_class._answer_ids

    Self._known_items.names = dict(held)
    return Self()


def test_recommend_takes_string_ids_to_exclude_as_internal_ids():
    body = RecommendBody.model_validate({"user_id": 1, "exclude_items": [9, SKU, "42", "007"]})
    assert body.to_query(7).exclude == (9, SKU_ID, 42, internal_item_id("007"))
    for bad in (["a b"], ["0"], [2**63], ["x" * 129]):
        with pytest.raises(ValidationError):
            RecommendBody.model_validate({"user_id": 1, "exclude_items": bad})


def test_a_catalog_update_whose_strings_collide_is_a_validation_error(monkeypatch):
    body = {"items": [{"item_id": "SKU-A"}, {"item_id": "SKU-B"}]}
    assert len(CatalogBody.model_validate(body).items) == 2
    monkeypatch.setattr(item_ids, "hashed", lambda text: HASHED_MAX)
    with pytest.raises(ValidationError, match="hash collision"):
        CatalogBody.model_validate(body)


def test_answers_name_items_by_string_from_the_snapshot_then_from_retrieval():
    from serving.app import Ingress

    retrieval = Retrieval({SKU_ID: SKU, OTHER: "SKU-NEW"})
    edge = ingress(retrieval, {SKU_ID: SKU})
    answer = Ingress.func_or_class._answer_ids
    assert asyncio.run(answer(edge, [5, SKU_ID])) == [5, SKU]
    assert retrieval.catalog_names.calls == []  # the snapshot knew them all
    assert asyncio.run(answer(edge, [OTHER, 5])) == ["SKU-NEW", 5]  # added since the snapshot
    assert retrieval.catalog_names.calls == [([OTHER],)]
    down = ingress(Retrieval({}, up=False), {})
    assert asyncio.run(answer(down, [OTHER])) == [OTHER]  # never a wrong name


def test_similar_takes_and_answers_string_ids():
    from serving.app import Ingress

    edge = ingress(Retrieval({SKU_ID: SKU, OTHER: "SKU-NEW"}), {SKU_ID: SKU, OTHER: "SKU-NEW"})
    similar = Ingress.func_or_class.similar
    found = asyncio.run(similar(edge, SKU, 2))
    assert found.item_id == SKU and [i.item_id for i in found.items] == [5, "SKU-NEW"]
    assert edge._retrieval.similar.calls == [(SKU_ID, 2)]
    assert asyncio.run(similar(edge, "5", 2)).item_id == 5  # a path segment of digits: an int
    with pytest.raises(HTTPException) as unknown:
        asyncio.run(similar(edge, "SKU-NONE", 2))
    assert unknown.value.status_code == 404 and "SKU-NONE" in unknown.value.detail
    for bad in ("0", "9223372036854775808"):
        with pytest.raises(RequestValidationError) as invalid:
            asyncio.run(similar(edge, bad, 2))
        assert invalid.value.errors()[0]["loc"] == ("path", "item_id")


def test_the_schema_documents_string_item_ids():
    from serving.app import api

    schema = api.openapi()
    (path_param,) = [
        p
        for p in schema["paths"]["/v1/items/{item_id}/similar"]["get"]["parameters"]
        if p["name"] == "item_id"
    ]
    assert path_param["schema"]["type"] == "string" and path_param["schema"]["pattern"]
    models = schema["components"]["schemas"]
    for model in ("RecommendedItem", "SimilarItem", "SimilarResponse"):
        kinds = {k["type"] for k in models[model]["properties"]["item_id"]["anyOf"]}
        assert kinds == {"integer", "string"}, model
    excluded = models["RecommendBody"]["properties"]["exclude_items"]["items"]["anyOf"]
    assert {k["type"] for k in excluded} == {"integer", "string"}


def test_a_catalog_update_colliding_with_a_held_or_stored_name_is_refused_before_storing(
    tmp_path,
):
    from components.recommend.catalog import (
        CatalogItem,
        append_catalog_updates,
        catalog_frame,
    )
    from serving.app import Ingress

    def colliding(raw):  # a fake hash: every string id maps to one internal id
        return raw if isinstance(raw, int) else SKU_ID

    def update(name):
        return catalog_frame([CatalogItem(item_id=name), CatalogItem(item_id=5)], colliding)

    conflicts = Ingress.func_or_class._name_conflicts
    edge = ingress(Retrieval({SKU_ID: SKU}), {})
    edge._catalog_updates = tmp_path
    # the catalog holds SKU under that id (asked of Retrieval: not in the snapshot)
    (message,) = asyncio.run(conflicts(edge, update("SKU-OTHER")))
    assert "'SKU-OTHER'" in message and f"'{SKU}'" in message and "hash collision" in message
    assert asyncio.run(conflicts(edge, update(SKU))) == []  # its own name again
    # a name only a stored update holds (no replica merged it yet) is held too
    fresh = ingress(Retrieval({}), {})
    fresh._catalog_updates = tmp_path
    assert asyncio.run(conflicts(fresh, update("SKU-FIRST"))) == []
    append_catalog_updates(tmp_path, update("SKU-FIRST"))
    (message,) = asyncio.run(conflicts(fresh, update("SKU-SECOND")))
    assert "'SKU-SECOND'" in message and "'SKU-FIRST'" in message
    assert asyncio.run(conflicts(fresh, catalog_frame([CatalogItem(item_id=7)]))) == []

    # the route answers 409 with the reason and stores nothing
    from fastapi.security import HTTPAuthorizationCredentials

    async def clash(frame):
        return [f"item id 'SKU-X' maps to internal id {SKU_ID}, ... (a hash collision)"]

    folder = tmp_path / "route"
    fresh._catalog_updates, fresh._name_conflicts = folder, clash
    fresh._args = type("Args", (), {"admin_token": "t0ken"})()
    token = HTTPAuthorizationCredentials(scheme="Bearer", credentials="t0ken")
    body = CatalogBody.model_validate({"items": [{"item_id": "SKU-X"}]})
    with pytest.raises(HTTPException) as refused:
        asyncio.run(Ingress.func_or_class.catalog_items(fresh, body, token))
    assert refused.value.status_code == 409 and "hash collision" in refused.value.detail
    assert not folder.exists() or not any(folder.iterdir())


def test_the_catalog_route_documents_the_conflict():
    from serving.app import api

    responses = api.openapi()["paths"]["/v1/catalog/items"]["post"]["responses"]
    assert "409" in responses and "collision" in responses["409"]["description"]
