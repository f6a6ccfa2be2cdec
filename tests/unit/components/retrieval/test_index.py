"""Pure parts of the Milvus index: names, spec validation, filter quoting, hit handling.

No Milvus here: every call below fails or returns before touching the client (None)."""

from __future__ import annotations

import numpy as np
import pytest

from components.retrieval.index import (
    AVAILABLE_FILTER,
    INDEX_TYPES,
    IndexSpec,
    and_filters,
    build_collection,
    category_columns,
    category_filter,
    collect_hits,
    collection_name,
    default_index_params,
    is_lite_uri,
    milvus_client,
    quote_string,
    sanitize_name,
    search_items,
    select_stale,
)

# --- names -----------------------------------------------------------------------------------


def test_sanitize_name_keeps_only_letters_digits_underscore():
    assert sanitize_name("2024-01-02T03:04 run#1.ok") == "2024_01_02T03_04_run_1_ok"
    assert sanitize_name("abc_123") == "abc_123"


def test_collection_name_joins_alias_and_sanitised_run_id():
    assert collection_name("reco_items", "20240102_ab12cd") == "reco_items_20240102_ab12cd"
    assert collection_name("reco_items", "run-7/b") == "reco_items_run_7_b"


@pytest.mark.parametrize("alias", ["", "1items", "reco-items", "reco items", "x" * 300])
def test_collection_name_rejects_invalid_alias(alias):
    with pytest.raises(ValueError, match="not a valid Milvus name"):
        collection_name(alias, "r1")


def test_collection_name_rejects_empty_run_id_and_too_long_names():
    with pytest.raises(ValueError, match="run_id"):
        collection_name("items", "")
    with pytest.raises(ValueError, match="collection name"):
        collection_name("items", "r" * 260)


# --- spec ------------------------------------------------------------------------------------


def test_index_spec_defaults_are_hnsw_ip_two_shards_with_params():
    spec = IndexSpec(alias="reco_items", dim=32)
    assert (spec.index_type, spec.metric_type, spec.num_shards) == ("HNSW", "IP", 2)
    assert spec.index_params == {"M": 16, "efConstruction": 200}
    assert spec.search_params == {"ef": 64}


def test_index_spec_normalises_case_and_keeps_explicit_params():
    spec = IndexSpec(
        "items",
        8,
        index_type="ivf_flat",
        metric_type="cosine",
        index_params={"nlist": 4},
        search_params={"nprobe": 2},
    )
    assert (spec.index_type, spec.metric_type) == ("IVF_FLAT", "COSINE")
    assert spec.index_params == {"nlist": 4} and spec.search_params == {"nprobe": 2}


def test_index_spec_rejects_unknown_index_type_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown index_type 'ANNOY'") as err:
        IndexSpec("items", 8, index_type="ANNOY")
    assert all(name in str(err.value) for name in INDEX_TYPES)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"metric_type": "HAMMING"}, "metric_type"),
        ({"dim": 0}, "dim"),
        ({"num_shards": 0}, "num_shards"),
        ({"alias": "bad-alias"}, "not a valid Milvus name"),
    ],
)
def test_index_spec_rejects_bad_values(kwargs, message):
    args = {"alias": "items", "dim": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        IndexSpec(**args)


@pytest.mark.parametrize("dim", [7, 16, 30, 64])
def test_ivf_pq_default_m_divides_dim(dim):
    params = default_index_params("IVF_PQ", dim)
    assert dim % params["m"] == 0


# --- filters ---------------------------------------------------------------------------------


def test_quote_string_escapes_quote_backslash_and_whitespace_controls():
    assert quote_string("Comedy") == '"Comedy"'
    assert quote_string('Sci "Fi" \\ x') == '"Sci \\"Fi\\" \\\\ x"'
    assert quote_string("a\nb\tc") == '"a\\nb\\tc"'
    assert quote_string("Comédie") == '"Comédie"'


def test_quote_string_refuses_other_control_characters():
    with pytest.raises(ValueError, match="control character"):
        quote_string("a\x00b")


def test_category_filter_matches_any_category_or_primary_only():
    assert category_filter(["Comedy", "Drama"]) == (
        'array_contains_any(categories, ["Comedy", "Drama"])'
    )
    assert category_filter(["Comedy"], primary_only=True) == 'category in ["Comedy"]'


def test_category_filter_cannot_be_broken_out_of():
    hostile = 'x"] or true or ["'
    expr = category_filter([hostile])
    assert expr == 'array_contains_any(categories, ["x\\"] or true or [\\""])'


def test_category_filter_needs_a_category():
    with pytest.raises(ValueError, match="at least one"):
        category_filter([])


def test_and_filters_parenthesises_and_skips_empty():
    assert and_filters(AVAILABLE_FILTER, None, "") == "(available == true)"
    assert and_filters("a == 1", "b or c") == "(a == 1) and (b or c)"
    assert and_filters(None, "") is None


# --- rows --------------------------------------------------------------------------------------


def test_category_columns_primary_is_first_and_limits_are_checked():
    primary, every = category_columns(["Action|Comedy", ""], np.array([1, 2]))
    assert primary == ["Action", ""] and every == [["Action", "Comedy"], []]
    with pytest.raises(ValueError, match="categories"):
        category_columns(["|".join(f"c{i}" for i in range(65))], np.array([1]))
    with pytest.raises(ValueError, match="longer than"):
        category_columns(["x" * 300], np.array([1]))


@pytest.mark.parametrize(
    "ids, vectors, cats, avail, message",
    [
        (np.array([1, 1]), np.ones((2, 4)), ["", ""], [True, True], "unique"),
        (np.array([1.0, 2.0]), np.ones((2, 4)), ["", ""], [True, True], "integer"),
        (np.array([1, 2]), np.ones((3, 4)), ["", ""], [True, True], "vectors must be"),
        (np.array([1, 2]), np.ones((2, 4)), [""], [True, True], "categories"),
        (np.array([1, 2]), np.array([[1, np.nan, 0, 0], [0] * 4]), ["", ""], [1, 1], "NaN"),
        (np.array([], dtype=np.int64), np.ones((0, 4)), [], [], "no items"),
        (np.array([1, 2]), np.ones((2, 5)), ["", ""], [True, True], "dim 5"),
    ],
)
def test_build_collection_validates_before_touching_milvus(ids, vectors, cats, avail, message):
    spec = IndexSpec("items", 4)
    with pytest.raises(ValueError, match=message):
        build_collection(None, spec, ids, vectors, cats, avail, "r1")  # type: ignore[arg-type]


# --- search results --------------------------------------------------------------------------


def test_collect_hits_drops_excluded_and_cuts_at_k():
    raw = [
        [
            {"item_id": 5, "distance": 0.9},
            {"item_id": 6, "distance": 0.8},
            {"item_id": 7, "distance": 0.7},
        ],
        [{"id": 8, "distance": 0.5}, {"id": 9, "distance": 0.4}],
    ]
    assert collect_hits(raw, 2, [{5}, set()]) == [[(6, 0.8), (7, 0.7)], [(8, 0.5), (9, 0.4)]]
    assert collect_hits(raw, 1) == [[(5, 0.9)], [(8, 0.5)]]


def test_search_items_validates_inputs_before_calling_milvus():
    vectors = np.ones((2, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="k must be"):
        search_items(None, "items", vectors, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exclude has 1 sets for 2 queries"):
        search_items(None, "items", vectors, 3, exclude=[set()])  # type: ignore[arg-type]
    assert search_items(None, "items", np.ones((0, 4)), 3) == []  # type: ignore[arg-type]


# --- clean-up selection ----------------------------------------------------------------------


def test_select_stale_keeps_newest_and_alias_target():
    cols = [("i_a", 1.0), ("i_b", 2.0), ("i_c", 3.0), ("i_d", 4.0)]
    assert select_stale(cols, target="i_a", keep=2) == ["i_b"]
    assert select_stale(cols, target="i_d", keep=2) == ["i_b", "i_a"]
    assert select_stale(cols, target="i_b", keep=0) == ["i_d", "i_c", "i_a"]
    assert select_stale(cols, target=None, keep=10) == []
    with pytest.raises(ValueError, match="keep"):
        select_stale(cols, target=None, keep=-1)


# --- client factory --------------------------------------------------------------------------


def test_uri_decides_lite_or_server():
    assert is_lite_uri("var/milvus.db") is True
    assert is_lite_uri("http://milvus:19530") is False
    assert is_lite_uri("https://in03.example.com") is False


def test_milvus_client_refuses_unknown_uri_without_connecting(tmp_path):
    with pytest.raises(ValueError, match=r"\.db or an http"):
        milvus_client(str(tmp_path / "milvus.sqlite"))
    assert not (tmp_path / "milvus.sqlite").exists()
