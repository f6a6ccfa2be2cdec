"""The URI decides Milvus Lite or a server; nothing connects here."""

from __future__ import annotations

import pytest

from components.retrieval.client import is_lite_uri, milvus_client


def test_uri_decides_lite_or_server():
    assert is_lite_uri("var/milvus.db") is True
    assert is_lite_uri("http://milvus:19530") is False
    assert is_lite_uri("https://in03.example.com") is False


def test_milvus_client_refuses_unknown_uri_without_connecting(tmp_path):
    with pytest.raises(ValueError, match=r"\.db or an http"):
        milvus_client(str(tmp_path / "milvus.sqlite"))
    assert not (tmp_path / "milvus.sqlite").exists()
