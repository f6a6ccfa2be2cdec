"""Building: names, spec validation, and input checks that fail before Milvus is touched
(client None)."""

from __future__ import annotations

import numpy as np
import pytest

from components.retrieval.build import (
    INDEX_TYPES,
    IndexSpec,
    build_collection,
    collection_name,
    default_index_params,
    sanitize_name,
)


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
