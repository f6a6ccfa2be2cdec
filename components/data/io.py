"""The offline store on disk: a dataset folder of Parquet files plus an append-only event log.

Layout of a dataset folder (``Settings.resolved_data_dir``; its ``events/`` is
``Settings.event_log_dir``)::

    interactions.parquet   base interactions (INTERACTIONS_FILE)
    items.parquet          the catalog (ITEMS_FILE)
    events/*.parquet       feedback appended by serving, same schema as interactions

Every file is written to a temporary name and moved into place with ``os.replace``, so a reader
sees a whole file or none; the temporary names do not end in ``.parquet`` and are never read.
"""

from __future__ import annotations

import logging
import os
import time
import typing
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from components.data.columns import (
    EVENT_TYPE,
    INTERACTIONS_FILE,
    ITEM_ID,
    ITEMS_FILE,
    TIMESTAMP,
    USER_ID,
)
from components.data.movielens import load_movielens
from components.data.synthetic import generate_synthetic
from components.data.validation import (
    DataValidationError,
    check_interactions,
    require_known_items,
    validate_dataset,
    validate_interactions,
    validate_items,
)
from components.privacy.ids import UserIds

logger = logging.getLogger(__name__)

EVENTS_FOLDER = "events"
SYNTHETIC = "synthetic"
_TMP_SUFFIX = ".tmp"


def _write_parquet_atomic(frame: pd.DataFrame, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{_TMP_SUFFIX}")
    try:
        frame.to_parquet(tmp, index=False)
        with open(tmp, "rb") as handle:  # on disk before it becomes visible under its name
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # a corrupt or foreign file: say which one
        raise DataValidationError(str(path), f"cannot read Parquet: {exc}") from exc


def write_dataset(directory: Path | str, interactions: pd.DataFrame, items: pd.DataFrame) -> None:
    """Validate and write ``interactions`` and ``items``; an existing event log is kept."""
    directory = Path(directory)
    interactions, items = validate_dataset(interactions, items, str(directory))
    directory.mkdir(parents=True, exist_ok=True)
    _write_parquet_atomic(items, directory / ITEMS_FILE)
    _write_parquet_atomic(interactions, directory / INTERACTIONS_FILE)


def event_files(events_dir: Path | str) -> list[Path]:
    """Event log files in name order, which is write order (names start with a ns clock)."""
    folder = Path(events_dir)
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def _empty_interactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            USER_ID: pd.Series(dtype="int64"),
            ITEM_ID: pd.Series(dtype="int64"),
            EVENT_TYPE: pd.Series(dtype=object),
            TIMESTAMP: pd.Series(dtype="datetime64[ns, UTC]"),
        }
    )


def _read_event_files(
    events_dir: Path, now: pd.Timestamp | None, item_ids: pd.Series | None = None
) -> list[pd.DataFrame]:
    parts = []
    for path in event_files(events_dir):
        part = validate_interactions(_read_parquet(path), str(path), now)
        if item_ids is not None:
            require_known_items(part, item_ids, str(path))
        parts.append(part)
    return parts


def _combine(parts: list[pd.DataFrame], label: str) -> pd.DataFrame:
    if len(parts) == 1:
        return parts[0]
    combined, report = check_interactions(pd.concat(parts, ignore_index=True), label)
    logger.info("%s: %d interactions from %d files", label, report.rows_out, len(parts))
    return combined


def read_events(events_dir: Path | str, now: pd.Timestamp | None = None) -> pd.DataFrame:
    """Every event in the log folder, validated file by file (errors name the file).

    No folder or no files: an empty frame with the required columns. Events duplicated across
    files are dropped once (logged).
    """
    events_dir = Path(events_dir)
    parts = _read_event_files(events_dir, now)
    return _combine(parts, str(events_dir)) if parts else _empty_interactions()


def read_dataset(
    directory: Path | str, now: pd.Timestamp | None = None, users: UserIds | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Base interactions + the ``events/`` log under ``directory``, and the catalog, validated.

    Errors name the file at fault, including events about items missing from the catalog.
    With ``users``, the base file's user ids are raw (source data) and are pseudonymized; the
    ``events/`` log is serving's and already holds internal ids.
    """
    directory = Path(directory)
    missing = [f for f in (INTERACTIONS_FILE, ITEMS_FILE) if not (directory / f).is_file()]
    if missing:
        raise DataValidationError(str(directory), f"dataset folder lacks {missing}")
    items_path, base_path = directory / ITEMS_FILE, directory / INTERACTIONS_FILE
    items = validate_items(_read_parquet(items_path), str(items_path))
    base = _read_parquet(base_path)
    # String user ids have no int64 form before pseudonymization: hashed first, then checked.
    early = (
        users is not None and USER_ID in base and not pd.api.types.is_numeric_dtype(base[USER_ID])
    )
    if early:
        base = _pseudonymized(users, base, str(base_path))
    base = validate_interactions(base, str(base_path), now)
    require_known_items(base, items[ITEM_ID], str(base_path))
    if users is not None and not early:
        base = users.frame(base)
    events = _read_event_files(directory / EVENTS_FOLDER, now, items[ITEM_ID])
    label = f"{directory} (base + {len(events)} event files)"
    return _combine([base, *events], label), items


def _pseudonymized(users: UserIds, frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """String user ids (a UUID, an account name) as internal ids, before validation: only
    their keyed hash is an integer. A null or non-id value raises with its rows."""
    raw = frame[USER_ID]
    bad = ~raw.map(
        lambda v: isinstance(v, str | int | np.integer) and not isinstance(v, bool) and v != ""
    )
    if bad.any():
        rows = [int(r) for r in bad.to_numpy().nonzero()[0]]
        raise DataValidationError(source, f"{USER_ID} must be integers or strings", rows)
    return users.frame(frame)


def append_events(events_dir: Path | str, events: pd.DataFrame) -> Path:
    """Validate ``events`` and add them to the log folder as one new file; return its path.

    ``events_dir`` is the log folder itself (``Settings.event_log_dir``, i.e. a data folder's
    ``events/``). Safe with concurrent readers (fsync + atomic rename) and writers (unique names).
    """
    events_dir = Path(events_dir)
    clean = validate_interactions(events, f"append_events({events_dir})")
    events_dir.mkdir(parents=True, exist_ok=True)
    name = f"events-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.parquet"
    return _write_parquet_atomic(clean, events_dir / name)


def _clock_prefix(path: Path) -> str:
    """``events-<ns clock>`` of a log file's name: a rewritten file keeps its place in order."""
    return "-".join(path.name.removesuffix(".parquet").split("-")[:2])


def rewrite_without_users(directory: Path | str, user_ids: Iterable[int]) -> int:
    """Remove every row of ``user_ids`` from the Parquet files of a log folder (the event log,
    the prediction log); return how many rows went.

    A file holding some of them is rewritten without them under a new name that sorts where it
    did (same clock prefix), then the old file is removed; a file left empty is removed. Readers
    see whole files only (fsync + atomic rename); a tail that notices a name vanish re-reads
    the folder (``EventTail``)."""
    targets = {int(u) for u in user_ids}
    removed = 0
    for path in sorted(Path(directory).glob("*.parquet")) if Path(directory).is_dir() else []:
        users = pd.read_parquet(path, columns=[USER_ID])[USER_ID]
        hit = users.isin(targets).to_numpy()
        if not hit.any():
            continue
        frame = pd.read_parquet(path)
        keep = frame[~hit]
        if len(keep):
            name = f"{_clock_prefix(path)}-r{uuid.uuid4().hex[:12]}.parquet"
            _write_parquet_atomic(keep, path.with_name(name))
        path.unlink()
        removed += int(hit.sum())
    return removed


@dataclass(frozen=True)
class Compaction:
    files_before: int
    files_after: int
    events_before: int
    events_after: int  # events older than the retention window are dropped


def compact_events(
    events_dir: Path | str,
    retention: pd.Timedelta,
    now: pd.Timestamp | None = None,
    max_rows_per_file: int = 1_000_000,
    keep: Callable[[pd.DataFrame], pd.Series] | None = None,
) -> Compaction:
    """Drop events older than ``retention`` and merge the log's files into a few large ones.

    Only the files present when it starts are touched: events the ingress appends meanwhile land
    in new files and are left alone. The merged files are written (atomically) before the old
    ones are removed, so a reader may briefly see an event twice (readers drop duplicates) but
    never miss one. ``keep(frame)`` optionally selects more rows to keep (a boolean mask)."""
    events_dir = Path(events_dir)
    files = event_files(events_dir)
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    if not files:
        return Compaction(0, 0, 0, 0)
    frames = [_read_parquet(path) for path in files]
    before = sum(len(f) for f in frames)
    merged = pd.concat(frames, ignore_index=True)
    stamps = pd.to_datetime(merged[TIMESTAMP], utc=True)
    mask = (stamps >= now - retention).to_numpy()
    if keep is not None:
        mask &= keep(merged).to_numpy(dtype=bool)
    merged = merged[mask].sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    if len(files) == 1 and len(merged) == before:
        return Compaction(1, 1, before, before)  # nothing to drop, nothing to merge
    # Names sort right after the newest merged file: appends made meanwhile sort later.
    prefix = _clock_prefix(files[-1])
    written = []
    for number, start in enumerate(range(0, len(merged), max_rows_per_file)):
        chunk = merged.iloc[start : start + max_rows_per_file]
        name = f"{prefix}-c{number:04d}-{uuid.uuid4().hex[:6]}.parquet"
        written.append(_write_parquet_atomic(chunk, events_dir / name))
    for path in files:
        path.unlink(missing_ok=True)
    logger.info(
        "compacted %s: %d files, %d events -> %d files, %d events",
        events_dir,
        len(files),
        before,
        len(written),
        len(merged),
    )
    return Compaction(len(files), len(written), before, len(merged))


def parse_synthetic_source(source: str) -> dict[str, typing.Any]:
    """``"synthetic:drift=0.5,seed=3"`` -> keyword arguments for :func:`generate_synthetic`."""
    _, _, spec = source.partition(":")
    hints = typing.get_type_hints(generate_synthetic)
    kwargs: dict[str, typing.Any] = {}
    for pair in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or key not in hints or key == "return":
            allowed = sorted(k for k in hints if k != "return")
            raise ValueError(
                f"bad synthetic option {pair!r} in {source!r}; use key=value, {allowed}"
            )
        kind = hints[key]
        if kind is bool:
            kwargs[key] = raw.strip().lower() in {"1", "true", "yes"}
        else:
            kwargs[key] = kind(raw.strip())
    return kwargs


def load_source(
    source: str | Path, users: UserIds | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One door for every input: ``synthetic[:k=v,...]``, a dataset folder, a MovieLens folder.

    Sources hold raw user ids; with ``users`` (what training's ingest passes) they come back
    pseudonymized, so nothing downstream (splits, features, models, MLflow) sees a raw id.
    A synthetic shop named by strings (``string_ids=true``) comes back as its raw files
    without ``users`` (string user ids have no int64 form before pseudonymization), validated
    with them."""
    text = str(source)
    if text == SYNTHETIC or text.startswith(f"{SYNTHETIC}:"):
        interactions, items = generate_synthetic(**parse_synthetic_source(text))
        if users is not None and not pd.api.types.is_integer_dtype(interactions[USER_ID]):
            return validate_dataset(users.frame(interactions), items, text)
    else:
        path = Path(text).expanduser()
        if not path.is_dir():
            raise DataValidationError(text, "no such folder (and not 'synthetic[:key=value,...]')")
        if (path / INTERACTIONS_FILE).is_file() or (path / ITEMS_FILE).is_file():
            return read_dataset(path, users=users)
        interactions, items = load_movielens(path)
    return (interactions if users is None else users.frame(interactions)), items
