"""Store configuration from settings values: the URI decides where the online store lives."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from components.features.store import (
    FOUND,
    _fill_defaults,
    _read_online,
    feature_store_config,
    redis_connection_string,
)


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


class _Response:
    def __init__(self, columns: dict) -> None:
        self.columns = columns

    def to_dict(self) -> dict:
        return self.columns


class _Store:
    """``get_online_features`` answering fixed columns (None where the store has no value)."""

    def __init__(self, columns: dict) -> None:
        self.columns = columns

    def get_online_features(self, features, entity_rows):
        return _Response(
            {f.split(":", 1)[1]: list(self.columns[f.split(":", 1)[1]]) for f in features}
        )


def _frame_path(columns: dict, ids: list[int], features, defaults) -> pd.DataFrame:
    """The read as it was built before: a frame, then ``_fill_defaults`` over it."""
    frame = pd.DataFrame({name: list(columns[name]) for name in features})
    frame.index = pd.Index(ids, name="id", dtype="int64")
    found = frame.notna().any(axis=1)
    frame = _fill_defaults(frame, defaults)
    frame[FOUND] = found.to_numpy(dtype=bool)
    return frame


@pytest.mark.parametrize("rows", [[0, 1, 2, 3], [0], [2], [1, 3]])
def test_an_online_read_fills_defaults_as_the_frame_path_did(rows) -> None:
    """Known, unknown (all None), partial and NaN rows, list/str/int/float defaults: the same
    values, dtypes and ``found`` flags as building the frame and filling it with pandas."""
    full = {
        "events": [3, None, 5, None],  # int default; a partial row
        "share": [0.5, None, float("nan"), None],  # float default; NaN counts as missing
        "recent": [[4, 2], None, [], None],  # list default, copied per row
        "top": ["Drama", None, "Action", None],  # str default
        "flag": [1, None, 0, None],
        "nodefault": [1.5, None, None, None],  # no default: stays missing
    }
    defaults = {"events": 0, "share": 0.0, "recent": [], "top": "", "flag": 1}
    features = list(full)
    columns = {name: [values[r] for r in rows] for name, values in full.items()}
    ids = [100 + r for r in rows]
    got = _read_online(_Store(columns), "view", "id", ids, features, defaults)
    want = _frame_path(columns, ids, features, defaults)
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs["missing"] == [i for i, r in zip(ids, rows, strict=True) if r in (1, 3)]
    if 1 in rows:
        recent = got["recent"].tolist()
        assert recent[rows.index(1)] == [] and recent[rows.index(1)] is not defaults["recent"]
