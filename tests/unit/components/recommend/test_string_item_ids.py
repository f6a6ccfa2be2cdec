"""String item ids on the request path: catalog updates keep them, the catalog names items by
them, feedback maps them to internal ids, the ingress's snapshot holds them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from components.data import item_ids
from components.data.columns import EXTERNAL_ID, ITEM_ID
from components.data.item_ids import HASHED_MAX, internal_item_id
from components.privacy.ids import UserIds
from components.recommend.catalog import (
    Catalog,
    CatalogItem,
    append_catalog_updates,
    catalog_frame,
    read_catalog_file,
    read_catalog_updates,
)
from components.recommend.feedback import check_feedback
from components.recommend.known_items import KnownItems
from components.recommend.sources import CandidateSources
from components.recommend.tables import build_serving_tables

SKU = "SKU-0042-BLUE"


def test_catalog_items_take_strings_in_canonical_form():
    assert CatalogItem(item_id="42").item_id == 42
    assert CatalogItem(item_id="007").item_id == "007"
    for bad in ("0", "a b", "x" * 129):
        with pytest.raises(ValidationError):
            CatalogItem(item_id=bad)


def test_an_update_with_string_ids_is_logged_and_merged_with_its_names(tmp_path, items):
    frame = catalog_frame([CatalogItem(item_id=SKU, title="Mug", categories=["A"])])
    assert frame[ITEM_ID].tolist() == [internal_item_id(SKU)]
    assert frame[EXTERNAL_ID].tolist() == [SKU]
    # an update file from before string ids (no external_id column) still reads
    pd.DataFrame({ITEM_ID: [3], "title": ["Old"], "categories": [None], "available": [None]})[
        [ITEM_ID, "title", "categories", "available"]
    ].to_parquet(tmp_path / "catalog-00000000000000000001-old.parquet", index=False)
    append_catalog_updates(tmp_path, frame)
    _, updates = read_catalog_updates(tmp_path)
    names = dict(zip(updates[ITEM_ID], updates[EXTERNAL_ID], strict=True))
    assert names == {3: None, internal_item_id(SKU): SKU}

    catalog = Catalog.from_items(items).updated(updates)
    sku = internal_item_id(SKU)
    assert catalog.external_ids([1, sku]) == [1, SKU] and catalog.title(sku) == "Mug"
    # a later update of the item by its string keeps the name; other items keep theirs
    again = catalog.updated(catalog_frame([CatalogItem(item_id=SKU, available=False)]))
    assert again.names == {sku: SKU} and not again.is_available([sku])[0]


def test_serving_tables_carry_the_names(interactions, items):
    shop = pd.concat(
        [items, items.iloc[:1].assign(**{ITEM_ID: internal_item_id(SKU), EXTERNAL_ID: SKU})]
    )
    sources = CandidateSources.from_tables(build_serving_tables(interactions, shop))
    assert sources.catalog.names == {internal_item_id(SKU): SKU}


def test_a_catalog_file_with_skus_reads_them_as_text(tmp_path):
    path = tmp_path / "new.csv"
    path.write_text("item_id,title,categories,available\n007,Bond,Film,true\n42,Answer,,\n")
    frame, errors = read_catalog_file(path)
    assert errors == []
    assert frame[ITEM_ID].tolist() == [internal_item_id("007"), 42]  # "007" stays an SKU
    assert frame[EXTERNAL_ID].tolist() == ["007", None]
    lines = tmp_path / "new.jsonl"
    lines.write_text('{"item_id": "007", "title": "Bond"}\n{"item_id": 9, "available": false}\n')
    frame, errors = read_catalog_file(lines)
    assert errors == [] and frame[EXTERNAL_ID].tolist() == ["007", None]


def test_a_catalog_file_whose_strings_collide_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(item_ids, "hashed", lambda text: HASHED_MAX)
    path = tmp_path / "clash.csv"
    path.write_text("item_id,title\nSKU-A,a\nSKU-B,b\n")
    frame, errors = read_catalog_file(path)
    assert len(frame) == 0 and len(errors) == 1 and "hash collision" in errors[0]
    with pytest.raises(ValueError, match="hash collision"):
        catalog_frame([CatalogItem(item_id="SKU-A"), CatalogItem(item_id="SKU-B")])


def test_feedback_about_a_string_item_is_stored_under_its_internal_id():
    sku = internal_item_id(SKU)
    checked = check_feedback(
        [
            {"user_id": "u-1", "item_id": SKU, "event_type": "click"},
            {"user_id": "u-1", "item_id": "SKU-UNKNOWN", "event_type": "click"},
            {"user_id": "u-1", "item_id": "42", "event_type": "view"},
            {"user_id": "u-1", "item_id": "no good", "event_type": "view"},
        ],
        known_items=lambda ids: set(ids) & {sku, 42},
        variant_of=lambda user: ("exp", "a"),
        pseudonymize=UserIds(b"test-key-0123456789"),
        context_keys=frozenset(),
        now=datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert checked.accepted == [0, 2]
    assert checked.events[ITEM_ID].tolist() == [sku, 42]
    reasons = {r.index: r.reasons for r in checked.rejected}
    assert reasons[1] == ["item_id: unknown item SKU-UNKNOWN"]
    assert any("should match pattern" in reason for reason in reasons[3])


def test_the_ingress_snapshot_holds_the_names_with_the_ids():
    sku = internal_item_id(SKU)
    state = {"names": {sku: SKU}}

    async def ids():
        return np.array([1, sku])

    async def names():
        return state["names"]

    async def check():
        known = KnownItems(ids, load_names=names)
        assert await known.known([sku, 5]) == {sku}
        assert known.names == {sku: SKU}
        state["names"] = {sku: SKU, 7: "x", 8: "y"}  # more names than ids: refused, kept
        await known.reload()
        assert known.names == {sku: SKU} and "string ids" in known.last_error

    asyncio.run(check())


def test_reasons_name_a_history_item_by_its_string_id(interactions, items):
    from components.data.columns import TITLE
    from components.recommend.candidates import SOURCE_COVISIT, Query, retrieve_candidates
    from components.recommend.reasons import AN_EARLIER_ITEM, reason
    from components.recommend.results import finalize

    skus = {i: f"SKU-{i:04d}" for i in (1, 2, 3)}  # named by strings, no titles
    internal = {i: internal_item_id(s) for i, s in skus.items()}
    shop = items.assign(**{ITEM_ID: items[ITEM_ID].replace(internal)})
    shop[EXTERNAL_ID] = shop[ITEM_ID].map({v: skus[k] for k, v in internal.items()})
    shop.loc[shop[ITEM_ID].isin(internal.values()), TITLE] = ""
    events = interactions.assign(**{ITEM_ID: interactions[ITEM_ID].replace(internal)})
    sources = CandidateSources.from_tables(build_serving_tables(events, shop, covisit_days=None))
    pool = retrieve_candidates(
        Query(user_id=9, k=4),
        sources,
        history=[internal[2]],
        seen=[internal[2]],
        user_vector=None,
        embed_items=None,
        search=None,
    )
    result = finalize(pool, Query(user_id=9, k=4), 1.0, None)
    covisited = [i for i in result.items if i.source == SOURCE_COVISIT]
    assert covisited, [i.source for i in result.items]
    assert all(i.reason == "because you watched item SKU-0002" for i in covisited)
    assert not any(str(internal[2]) in i.reason for i in result.items)
    # a title still wins; an integer is named as before; an unnamed hash never shows
    assert reason("covisit", "SKU-1", "Mug", []) == "because you watched Mug"
    assert reason("covisit", 7, "", []) == "because you watched item 7"
    assert reason("covisit", internal[1], "", []) == f"because you watched {AN_EARLIER_ITEM}"


def colliding(raw):
    """A fake hash: every string id maps to one internal id (a forced collision)."""
    return raw if isinstance(raw, int) else HASHED_MAX - 7


def test_an_update_colliding_with_a_name_the_catalog_holds_is_refused_at_merge(
    tmp_path, items, caplog
):
    from components.recommend.catalog import accepted_updates, name_conflicts

    first = catalog_frame([CatalogItem(item_id="SKU-A", title="Mug")], colliding)
    later = catalog_frame(
        [CatalogItem(item_id="SKU-B", title="Cup"), CatalogItem(item_id=5, available=False)],
        colliding,
    )
    assert first[ITEM_ID].tolist() == later[ITEM_ID].tolist()[:1]  # one internal id, two names
    catalog = Catalog.from_items(items).updated(first)
    key = HASHED_MAX - 7
    # merged directly: a clear error, the catalog as it was
    with pytest.raises(ValueError, match="'SKU-B'.*already holds for 'SKU-A'.*hash collision"):
        catalog.updated(later)
    assert name_conflicts({key: "SKU-A"}, first) == []  # the same name again: no conflict
    # through the log: the colliding update is left out whole, with its reason; others merge
    append_catalog_updates(tmp_path, first)
    append_catalog_updates(tmp_path, later)
    append_catalog_updates(tmp_path, catalog_frame([CatalogItem(item_id=6, available=False)]))
    with caplog.at_level("ERROR"):
        _, merged = read_catalog_updates(tmp_path, catalog.names)
    assert "refused" in caplog.text and "SKU-B" in caplog.text
    assert sorted(merged[ITEM_ID].tolist()) == sorted([key, 6])  # not 5: its update refused
    after = catalog.updated(merged)
    assert after.names[key] == "SKU-A" and after.title(key) == "Mug"  # nothing held is lost
    assert after.is_available([5])[0] and not after.is_available([6])[0]
    # across two updates of the log alone (no catalog yet): the first name wins
    (merged, refused) = accepted_updates([("one", first), ("two", later)])
    assert merged[EXTERNAL_ID].tolist() == ["SKU-A"] and len(refused) == 1
    assert refused[0].startswith("catalog update two refused: item id 'SKU-B'")
