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
from pathlib import Path

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
    directory: Path | str, now: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Base interactions + the ``events/`` log under ``directory``, and the catalog, validated.

    Errors name the file at fault, including events about items missing from the catalog.
    """
    directory = Path(directory)
    missing = [f for f in (INTERACTIONS_FILE, ITEMS_FILE) if not (directory / f).is_file()]
    if missing:
        raise DataValidationError(str(directory), f"dataset folder lacks {missing}")
    items_path, base_path = directory / ITEMS_FILE, directory / INTERACTIONS_FILE
    items = validate_items(_read_parquet(items_path), str(items_path))
    base = validate_interactions(_read_parquet(base_path), str(base_path), now)
    require_known_items(base, items[ITEM_ID], str(base_path))
    events = _read_event_files(directory / EVENTS_FOLDER, now, items[ITEM_ID])
    label = f"{directory} (base + {len(events)} event files)"
    return _combine([base, *events], label), items


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


def load_source(source: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One door for every input: ``synthetic[:k=v,...]``, a dataset folder, a MovieLens folder."""
    text = str(source)
    if text == SYNTHETIC or text.startswith(f"{SYNTHETIC}:"):
        return generate_synthetic(**parse_synthetic_source(text))
    path = Path(text).expanduser()
    if not path.is_dir():
        raise DataValidationError(text, "no such folder (and not 'synthetic[:key=value,...]')")
    if (path / INTERACTIONS_FILE).is_file() or (path / ITEMS_FILE).is_file():
        return read_dataset(path)
    return load_movielens(path)
