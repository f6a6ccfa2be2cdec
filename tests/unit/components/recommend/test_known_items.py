import asyncio

import numpy as np
import pytest

from components.recommend.known_items import KnownItems


class Catalog:
    """A fake Retrieval: its ids, whether it is up, how often it was asked."""

    def __init__(self, ids):
        self.ids = list(ids)
        self.down = False
        self.calls = 0

    async def load(self):
        self.calls += 1
        if self.down:
            raise ConnectionError("Retrieval restarting")
        return np.asarray(self.ids)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _settle() -> None:
    for _ in range(3):  # let a background reload run
        await asyncio.sleep(0)


def test_first_check_loads_then_checks_against_the_snapshot_without_asking_again():
    catalog, clock = Catalog([3, 1, 2]), Clock()
    known = KnownItems(catalog.load, refresh_s=60, clock=clock)

    async def run():
        assert await known.known([1, 2, 9]) == {1, 2}
        await _settle()
        assert await known.known([3]) == {3}
        await _settle()

    asyncio.run(run())
    assert catalog.calls == 1  # the unknown 9 came within min_refresh_s of the load: no reload


def test_feedback_is_checked_while_the_loader_is_down_and_picks_up_new_items_later():
    catalog, clock = Catalog([1, 2]), Clock()
    known = KnownItems(catalog.load, refresh_s=60, min_refresh_s=5, clock=clock)

    async def run():
        assert await known.known([1]) == {1}
        catalog.down = True
        clock.now = 120.0  # stale: a reload starts in the background and fails
        assert await known.known([1, 2]) == {1, 2}
        await _settle()
        assert "restarting" in known.describe()["error"]
        assert await known.known([2]) == {2}  # still the held snapshot
        catalog.down, catalog.ids = False, [1, 2, 7]
        clock.now = 130.0  # an unknown id after min_refresh_s: reload early
        assert await known.known([7]) == set()
        await _settle()
        assert await known.known([7]) == {7}
        assert known.describe()["error"] is None and known.describe()["items"] == 3

    asyncio.run(run())


def test_unknown_ids_do_not_reload_more_often_than_min_refresh():
    catalog, clock = Catalog([1]), Clock()
    known = KnownItems(catalog.load, refresh_s=60, min_refresh_s=5, clock=clock)

    async def run():
        await known.known([1])
        for step in range(10):  # 10 requests with an unknown id within 4.5 s
            clock.now = step * 0.5
            await known.known([99])
            await _settle()

    asyncio.run(run())
    assert catalog.calls == 1


def test_without_any_snapshot_a_failed_load_raises():
    catalog = Catalog([1])
    catalog.down = True
    known = KnownItems(catalog.load)
    with pytest.raises(RuntimeError, match="no catalog snapshot"):
        asyncio.run(known.known([1]))


def test_a_catalog_past_the_limit_is_not_held():
    catalog, clock = Catalog(range(1, 12)), Clock()
    known = KnownItems(catalog.load, max_items=10, clock=clock)
    with pytest.raises(RuntimeError, match="more than the 10"):
        asyncio.run(known.known([1]))
    assert known.describe()["items"] is None
    catalog.ids = list(range(1, 11))  # exactly the limit: held
    assert asyncio.run(known.known([1, 10, 11])) == {1, 10}


def test_an_unchanged_fingerprint_skips_the_copy_and_a_changed_one_takes_it():
    from components.recommend.catalog import Catalog as ServedCatalog

    def served(ids, names):
        n = len(ids)
        return ServedCatalog(ids, [""] * n, [[]] * n, [True] * n, names=names)

    current = {"catalog": served([1, 2, -7], {-7: "SKU-7"})}
    calls = {"ids": 0, "names": 0, "fingerprint": 0}

    async def ids():
        calls["ids"] += 1
        return current["catalog"].ids

    async def names():
        calls["names"] += 1
        return current["catalog"].names

    async def fingerprint():
        calls["fingerprint"] += 1
        return current["catalog"].fingerprint

    clock = Clock()
    known = KnownItems(
        ids, refresh_s=60, clock=clock, load_names=names, load_fingerprint=fingerprint
    )

    async def run():
        assert await known.known([1, -7]) == {1, -7}
        assert known.names == {-7: "SKU-7"}
        current["catalog"] = served([1, 2, -7], {-7: "SKU-7"})  # a reload of the same tables
        clock.now = 61.0
        await known.known([1])
        await _settle()
        assert calls == {"ids": 1, "names": 1, "fingerprint": 2}  # asked, nothing copied
        assert known.describe()["age_s"] == 0.0  # but the snapshot counts as fresh
        current["catalog"] = served([1, 2, 3, -7], {-7: "SKU-7"})  # an item added
        clock.now = 122.0
        await known.known([1])
        await _settle()
        assert calls == {"ids": 2, "names": 2, "fingerprint": 3}
        assert await known.known([3]) == {3}

    asyncio.run(run())


def test_the_fingerprint_follows_ids_and_names_not_titles_or_availability():
    from components.recommend.catalog import Catalog as ServedCatalog

    base = ServedCatalog([2, 1], ["b", "a"], [["x"], []], [True, False], names=None)
    same = ServedCatalog([1, 2], ["other", "titles"], [[], []], [True, True])
    assert base.fingerprint == same.fingerprint  # the snapshot holds ids and names only
    assert ServedCatalog([1, 2, 3], [""] * 3, [[]] * 3, [True] * 3).fingerprint != base.fingerprint
    named = ServedCatalog([1, -5], ["", ""], [[], []], [True, True], names={-5: "SKU-5"})
    renamed = ServedCatalog([1, -5], ["", ""], [[], []], [True, True], names={-5: "SKU-6"})
    assert named.fingerprint != renamed.fingerprint
