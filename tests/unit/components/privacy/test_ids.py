import stat

import pandas as pd
import pytest

from components.data.columns import USER_ID
from components.privacy.ids import KEY_FILE, UserIds, canonical, load_key, user_ids

KEY = b"k" * 32


def test_internal_ids_are_keyed_deterministic_positive_int63():
    users = UserIds(KEY)
    ids = [users(i) for i in (1, 2, 2**63 - 1, "abc", "ABC")]
    assert len(set(ids)) == 5 and all(0 < i < 2**63 for i in ids)
    assert users(7) == UserIds(KEY)(7) != UserIds(b"x" * 32)(7)  # the key decides
    assert users(42) == users("42") and users("042") != users(42)  # canonical form
    assert 1 not in ids and repr(users) == "UserIds(<key>)"  # never the key


def test_canonical_refuses_other_types():
    assert canonical(5) == "5" and canonical("a-b") == "a-b"
    for bad in (True, 1.0, None):
        with pytest.raises(TypeError):
            canonical(bad)


def test_a_short_key_is_refused():
    with pytest.raises(ValueError, match="16 bytes"):
        UserIds(b"short")


def test_a_column_is_mapped_like_single_ids():
    users = UserIds(KEY)
    frame = pd.DataFrame({USER_ID: [3, 1, 3], "x": [1, 2, 3]})
    out = users.frame(frame)
    assert out[USER_ID].tolist() == [users(3), users(1), users(3)]
    assert out[USER_ID].dtype == "int64" and frame[USER_ID].tolist() == [3, 1, 3]
    assert users.series(pd.Series(["a", "b"], dtype=object)).tolist() == [users("a"), users("b")]


def test_without_a_configured_key_one_is_generated_once_with_owner_only_access(tmp_path):
    first = load_key(None, tmp_path)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) == 32
    assert load_key(None, tmp_path) == first  # persisted: runs agree
    assert user_ids(None, tmp_path)(5) == UserIds(first)(5)
    other = tmp_path / "other"
    assert load_key(None, other) != first  # random per state folder


def test_a_configured_key_wins_hex_or_text(tmp_path):
    assert load_key("00" * 16, tmp_path) == bytes(16)
    assert load_key("a text key of some length", tmp_path) == b"a text key of some length"
    assert not (tmp_path / KEY_FILE).exists()
