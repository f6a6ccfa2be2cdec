"""The one place external item ids become internal ones (int64 everywhere inside).

Clients name items by integers (MovieLens, the synthetic data) or by strings (SKUs, UUIDs).
Every table, feature, index and model keys items by one int64, so:

- an integer is its own internal id (clients send 1..2**63-1; files and logs may also hold
  internal ids, so a file's integer column passes through as it is);
- a string of decimal digits without a leading zero (``"42"``; not ``"042"`` or ``"+42"``) is
  that integer, and must be in range like one (``"0"`` and ``"9223372036854775808"`` are
  refused): a URL path segment, a CSV cell and a JSON string cannot keep ``"42"`` and ``42``
  apart reliably, so one rule holds everywhere (as for user ids, where ``42`` and ``"42"`` are
  one user). Such an id is answered as the integer;
- any other string (``ID_PATTERN``, at most ``MAX_ID_LENGTH`` characters) maps to a hash in the
  negative range [-2**63 + 1, -2**62]: it never meets a client integer (those are positive) nor
  the ``-1`` the request path uses for "no anchor item".

The hash is SHA-256 without a key, unlike user ids (``components.privacy.ids``): item ids are
not personal data, and training, serving and the CLI must all compute the same internal id
without sharing a secret. 62 bits of it: two of n strings collide with probability about
n**2 / 2**63 (one in ten million for a million strings); a collision is refused at ingest
(``find_collisions``), never merged silently.

The catalog keeps the string (column ``external_id``) so answers name items as clients do.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import AfterValidator, Field

from components.data.contract import ID_PATTERN, MAX_ID, MAX_ID_LENGTH, IdText, PositiveId

HASH_BITS = 62
_HASH_MASK = (1 << HASH_BITS) - 1
HASHED_MAX = -(1 << HASH_BITS)  # the hashed range is [HASHED_MIN, HASHED_MAX]
HASHED_MIN = HASHED_MAX - _HASH_MASK
_PATTERN = re.compile(ID_PATTERN)
_CANONICAL_INT = re.compile(r"^(0|[1-9][0-9]*)$")

# An item id as clients send it (requests, feedback, catalog updates), validated into its
# canonical form (``external_form``: "42" becomes 42).
RawItemId = Annotated[
    PositiveId | Annotated[IdText, AfterValidator(lambda text: external_form(text))],
    Field(
        description=f"an integer in 1..{MAX_ID}, or a string (an SKU, a UUID) of "
        f"1-{MAX_ID_LENGTH} characters matching {ID_PATTERN}; a string of decimal digits "
        'without a leading zero is that integer ("42" is 42; "042" is a string id)'
    ),
]
# An item id as answers name it: the catalog's string when the item has one, else the integer.
ItemIdOut = Annotated[int | str, Field(description="the item id as the catalog knows it")]


def external_form(raw: int | str) -> int | str:
    """The canonical client form of an item id: an int in 1..MAX_ID, or a string that is not
    one's decimal. Raises ``ValueError`` with the reason for anything else."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError(f"an item id is an integer or a string, not {type(raw).__name__}")
    if isinstance(raw, str) and _CANONICAL_INT.match(raw):
        raw = int(raw)
    if isinstance(raw, int):
        if not 0 < raw <= MAX_ID:
            raise ValueError(f"an integer item id must be in 1..{MAX_ID}, got {raw}")
        return raw
    if not 0 < len(raw) <= MAX_ID_LENGTH:
        raise ValueError(f"a string item id has 1-{MAX_ID_LENGTH} characters, got {len(raw)}")
    if not _PATTERN.match(raw):
        raise ValueError(f"a string item id must match {ID_PATTERN}, got {raw!r}")
    return raw


def hashed(text: str) -> int:
    """The internal id of a string id (no canonical-integer check: see ``internal_item_id``)."""
    digest = hashlib.sha256(b"item:" + text.encode()).digest()
    return HASHED_MAX - (int.from_bytes(digest[:8], "big") & _HASH_MASK)


def is_hashed(internal: int) -> bool:
    """Whether an internal id stands for a string id (the catalog knows the string)."""
    return HASHED_MIN <= internal <= HASHED_MAX


def internal_item_id(raw: int | str) -> int:
    """The internal id of a client's item id (``ValueError`` with the reason if invalid)."""
    value = external_form(raw)
    return value if isinstance(value, int) else hashed(value)


def try_internal(raw: object) -> int | None:
    """The internal id, or None when ``raw`` is not a valid item id (a pre-filter's view)."""
    try:
        return internal_item_id(raw)  # type: ignore[arg-type]
    except ValueError:
        return None


def map_item_ids(values: pd.Series) -> tuple[pd.Series, pd.Series, list[tuple[int, str]]]:
    """A file's item-id column as (internal int64 ids, external strings (None for integer
    ids), errors as (row position, reason)). Integers pass as they are (a file may hold
    internal ids); integral floats (a CSV column with gaps) are integers; strings follow
    ``external_form``."""
    if pd.api.types.is_integer_dtype(values.dtype):
        empty = pd.Series([None] * len(values), index=values.index, dtype=object)
        return values.astype("int64"), empty, []
    internal: list[int] = []
    external: list[str | None] = []
    errors: list[tuple[int, str]] = []
    cache: dict[str, tuple[int, str | None]] = {}
    for row, value in enumerate(values.tolist()):
        if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_ID:
            value = int(value)
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            internal.append(int(value))
            external.append(None)
            continue
        if not isinstance(value, str):
            errors.append((row, f"an item id is an integer or a string, got {value!r}"))
            internal.append(0)
            external.append(None)
            continue
        if value not in cache:
            try:
                form = external_form(value)
            except ValueError as error:
                errors.append((row, str(error)))
                internal.append(0)
                external.append(None)
                continue
            cache[value] = (form, None) if isinstance(form, int) else (hashed(form), form)
        internal.append(cache[value][0])
        external.append(cache[value][1])
    return (
        pd.Series(internal, index=values.index, dtype="int64"),
        pd.Series(external, index=values.index, dtype=object),
        errors,
    )


def find_collisions(internal: Iterable[int], external: Iterable[str | None]) -> list[str]:
    """One message per internal id that two different strings (or a string and an integer)
    map to: such a catalog cannot be ingested (the items would merge)."""
    names: dict[int, set[str | None]] = {}
    for key, name in zip(internal, external, strict=True):
        names.setdefault(int(key), set()).add(name)
    return [
        f"item ids {sorted(map(str, group))} map to one internal id {key} (a hash collision): "
        "rename one of them"
        for key, group in names.items()
        if len(group) > 1
    ]


def answer_ids(internal: Sequence[int], names: dict[int, str]) -> list[int | str]:
    """Internal ids as answers name them: the catalog's string where ``names`` has one."""
    return [names.get(int(i), int(i)) for i in internal]
