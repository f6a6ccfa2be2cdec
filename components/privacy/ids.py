"""The one place raw user ids become internal ids: a keyed hash (pseudonymization at the edge).

A client's user id (an integer within int64, or a short string: a UUID, an account number) is
hashed with HMAC-SHA256 under a secret key, and the first 8 bytes of the digest, cleared to a
positive int63, are the internal id every table, feature, model and log uses. The key never
leaves the platform, so an internal id cannot be turned back into the raw id, nor be recomputed
from a guessed raw id, by anyone who reads the data without the key.

Canonical form: an integer hashes as its decimal string, so ``42`` and ``"42"`` are one user;
strings hash as sent (case and leading zeros matter).

The key: ``RECO_ID_KEY`` (a Kubernetes Secret on a cluster), else a random key generated once
and kept in ``<state_dir>/secrets/id_key`` (mode 0600), so a laptop run is pseudonymized too and
stays consistent across runs. Rotating the key changes every internal id: docs/security.md says
what must be re-keyed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from typing import Annotated

import pandas as pd
from pydantic import Field

from components.data.columns import USER_ID
from components.data.contract import ID_PATTERN, MAX_ID, MAX_ID_LENGTH, IdText, PositiveId

log = logging.getLogger(__name__)

# A user id as clients send it (the string form is the contract's, shared with item ids).
RawUserId = Annotated[
    PositiveId | IdText,
    Field(
        description=f"an integer in 1..{MAX_ID}, or a string of 1-{MAX_ID_LENGTH} "
        f"characters matching {ID_PATTERN}; pseudonymized on arrival"
    ),
]

KEY_FILE = Path("secrets") / "id_key"
MIN_KEY_BYTES = 16


def canonical(raw: int | str) -> str:
    """The string a raw id is hashed as: integers in decimal, strings as they are."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise TypeError(f"a user id is an int or a str, not {type(raw).__name__}")
    return str(raw)


class UserIds:
    """Raw user ids -> internal ids under one key (deterministic, collision-free in practice)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the id key needs at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def __repr__(self) -> str:  # never the key
        return "UserIds(<key>)"

    def internal(self, raw: int | str) -> int:
        digest = hmac.new(self._key, canonical(raw).encode(), hashlib.sha256).digest()
        return (int.from_bytes(digest[:8], "big") & MAX_ID) or 1  # 0 is not an id

    __call__ = internal

    def series(self, raw: pd.Series) -> pd.Series:
        """A column of raw ids as internal ids (int64), each distinct id hashed once."""
        if pd.api.types.is_integer_dtype(raw.dtype):
            values = raw.astype("int64")
        else:
            values = raw.astype(object)
        unique = pd.unique(values)
        mapping = {v: self.internal(v.item() if hasattr(v, "item") else v) for v in unique}
        return values.map(mapping).astype("int64")

    def frame(self, interactions: pd.DataFrame) -> pd.DataFrame:
        """``interactions`` with its user ids pseudonymized (a copy)."""
        out = interactions.copy()
        out[USER_ID] = self.series(out[USER_ID])
        return out

    def tombstone(self, internal_id: int) -> str:
        """What the erasure list keeps of an erased user: a second keyed hash of the internal
        id, so the list itself holds neither the raw nor the internal id."""
        message = f"erased:{int(internal_id)}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def _decode(text: str) -> bytes:
    text = text.strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        return text.encode()


def load_key(configured: str | None, state_dir: Path) -> bytes:
    """The configured key (hex or text), else the state folder's key file, created once with a
    random key (0600) and a warning: set RECO_ID_KEY wherever several machines share data."""
    if configured:
        return _decode(configured)
    path = Path(state_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
            log.warning(
                "RECO_ID_KEY is not set: generated a user-id key in %s (0600). Every process "
                "that shares this data must use the same key (set RECO_ID_KEY on a cluster).",
                path,
            )
    return _decode(path.read_text())


def user_ids(configured: str | None, state_dir: Path) -> UserIds:
    return UserIds(load_key(configured, state_dir))
