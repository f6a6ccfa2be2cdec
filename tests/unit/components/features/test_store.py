"""Store configuration from settings values: the URI decides where the online store lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.features.store import feature_store_config, redis_connection_string


def test_no_online_uri_means_sqlite_under_the_repo(tmp_path: Path) -> None:
    config = feature_store_config(tmp_path, None, "reco")
    assert config["online_store"] == {"type": "sqlite", "path": str(tmp_path / "online_store.db")}
    assert config["registry"]["path"] == str(tmp_path / "registry.db")
    assert config["offline_store"] == {"type": "file"}
    assert config["provider"] == "local" and config["project"] == "reco"


def test_a_redis_uri_becomes_feasts_connection_string(tmp_path: Path) -> None:
    config = feature_store_config(tmp_path, "redis://redis-master:6380", "reco")
    assert config["online_store"] == {"type": "redis", "connection_string": "redis-master:6380"}
    assert redis_connection_string("redis://:s3cret@redis:6379/2") == (
        "redis:6379,db=2,password=s3cret"
    )
    assert redis_connection_string("rediss://redis") == "redis:6379,ssl=true"


def test_other_uris_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="online store"):
        feature_store_config(tmp_path, "http://feast:6566", "reco")
