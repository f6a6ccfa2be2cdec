import numpy as np

from components.data.contract import split_categories
from components.recommend.catalog import Catalog
from components.recommend.sources import CandidateSources
from components.recommend.tables import build_serving_tables


def test_catalog_lookups_are_vectorised_and_unknown_ids_are_safe(items):
    catalog = Catalog.from_items(items)
    ids = np.array([2, 99, 12])
    assert catalog.positions(ids).tolist()[1] == -1
    assert catalog.contains(ids).tolist() == [True, False, True]
    assert catalog.is_available(ids).tolist() == [True, False, False]
    assert catalog.primary_categories(ids).tolist() == ["A", "", "C"]
    assert catalog.categories_of([2]) == [["A", "B"]]
    assert catalog.titles_of([2, 99]) == ["Item 2", ""]
    assert catalog.in_categories([1, 2, 4, 99], ["B"]).tolist() == [False, True, True, False]
    assert split_categories("A| B |") == ["A", "B"] and split_categories(None) == []


def test_popular_respects_categories_exclusions_and_availability(interactions, items):
    sources = CandidateSources.from_tables(build_serving_tables(interactions, items))
    top = sources.popular(3)
    # weighted positives: a purchase (5) > a click and a view (1.3) > two views (0.6)
    assert top.ids.tolist() == [4, 2, 1]
    in_c = sources.popular(10, ["C"])
    assert set(in_c.ids.tolist()) == {6, 7, 8, 9}  # 12 is in C but unavailable
    assert 1 not in sources.popular(10, exclude=[1]).ids
    assert len(sources.popular(100)) == 11  # every available item: the pool never runs dry


def test_popular_checks_only_the_head_it_needs_and_answers_as_a_full_scan():
    """Exclusions and availability on a seeded random shop: the same answer as filtering the
    whole popularity order, whatever k, the categories and the excluded ids."""
    import pandas as pd

    rng = np.random.default_rng(7)
    n = 500
    ids = np.arange(1, n + 1)
    cats = [["A", "B", "C"][i % 3] + ("|D" if i % 7 == 0 else "") for i in range(n)]
    catalog = Catalog(ids, [""] * n, [c.split("|") for c in cats], rng.random(n) > 0.2)
    popularity = pd.DataFrame({"item_id": ids, "score": rng.random(n)})
    sources = CandidateSources(catalog, popularity)
    order = popularity.sort_values(["score", "item_id"], ascending=[False, True])["item_id"]
    for _ in range(200):
        k = int(rng.integers(0, 60))
        exclude = rng.choice(ids, size=int(rng.integers(0, 80)), replace=False)
        wanted = [] if rng.random() < 0.5 else list(rng.choice(["A", "B", "D"], size=2))
        expected = [
            int(i)
            for i in order
            if catalog.is_available([i])[0]
            and i not in set(exclude.tolist())
            and (not wanted or set(catalog.categories_of([i])[0]) & set(wanted))
        ][:k]
        got = sources.popular(k, wanted or None, exclude=exclude)
        assert got.ids.tolist() == expected


def test_covisited_sums_neighbours_and_names_the_anchor(interactions, items):
    sources = CandidateSources.from_tables(
        build_serving_tables(interactions, items, covisit_days=None)
    )
    found = sources.covisited([2], k=5)
    assert 2 not in found.ids  # the history itself is never a candidate
    assert set(found.ids.tolist()) >= {1, 3, 4}
    assert (found.anchors == 2).all()
    assert sources.covisited([99], k=5).ids.size == 0
    assert sources.covisited([2], k=5, exclude=[1]).ids.tolist().count(1) == 0


def test_seen_items_are_most_recent_first(interactions, items):
    sources = CandidateSources.from_tables(build_serving_tables(interactions, items))
    assert sources.seen_items(1).tolist() == [3, 2, 1]
    assert sources.seen_items(42).size == 0


def test_forgotten_users_have_no_seen_items_or_stand_in_history(interactions, items):
    sources = CandidateSources.from_tables(build_serving_tables(interactions, items))
    assert sources.user_ids() == {1, 2, 3}
    assert sources.positive_items(2).size > 0
    sources.forget_users(frozenset({2}), version=1)
    assert sources.seen_items(2).size == 0 and sources.positive_items(2).size == 0
    assert sources.seen_items(1).tolist() == [3, 2, 1]  # everyone else as before
    assert sources.erased_users == {2} and sources.erased_version == 1
    copy = sources.with_catalog(sources.catalog)  # a catalog update keeps the erasures
    assert copy.seen_items(2).size == 0
