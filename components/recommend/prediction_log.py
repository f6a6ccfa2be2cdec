"""The prediction log: the scores serving returned, for the drift job.

Rows (one per recommended item): ``timestamp``, ``user_id``, ``item_id``, ``score``, ``rank``
(1 = top), ``variant``, ``model_version``. Rows are buffered and written as one Parquet file per
flush (temporary name, fsync, rename), so readers never see a partial file and a busy server
writes a few files a minute, not one per request. ``user_id`` is the pseudonymous internal id
(``components.privacy.ids``); rows of erased users are dropped at flush (``erased``), and
rows older than the retention window (``RECO_PREDICTION_RETENTION_DAYS``) by
``expire_predictions`` (``reco maintenance compact``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from components.data.columns import ITEM_ID, TIMESTAMP, USER_ID

log = logging.getLogger(__name__)

SCORE = "score"
RANK = "rank"
VARIANT = "variant"
MODEL_VERSION = "model_version"
COLUMNS = (TIMESTAMP, USER_ID, ITEM_ID, SCORE, RANK, VARIANT, MODEL_VERSION)


def prediction_rows(
    user_id: int,
    item_ids: Sequence[int],
    scores: Sequence[float],
    variant: str,
    model_version: str,
    when: pd.Timestamp | None = None,
) -> list[dict]:
    stamp = when if when is not None else pd.Timestamp.now(tz="UTC")
    return [
        {
            TIMESTAMP: stamp,
            USER_ID: int(user_id),
            ITEM_ID: int(item),
            SCORE: float(score),
            RANK: rank,
            VARIANT: variant,
            MODEL_VERSION: model_version,
        }
        for rank, (item, score) in enumerate(zip(item_ids, scores, strict=True), start=1)
    ]


def write_predictions(directory: Path, rows: list[dict]) -> Path | None:
    """One atomic Parquet file of ``rows`` under ``directory``; None when there are none."""
    if not rows:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True).astype("datetime64[ns, UTC]")
    final = directory / f"predictions-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
    _write_atomic(frame, final)
    return final


@dataclass(frozen=True)
class Expiry:
    files_before: int
    files_after: int
    rows_removed: int


def _write_atomic(frame: pd.DataFrame, final: Path) -> None:
    tmp = final.with_name(f".{final.name}.tmp")
    try:
        frame.to_parquet(tmp, index=False)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def expire_predictions(
    directory: Path | str, retention: pd.Timedelta, now: pd.Timestamp | None = None
) -> Expiry:
    """Remove prediction rows older than ``retention``: a file wholly older goes, a file that
    straddles the horizon is rewritten (atomically, under a new name that sorts where it did)
    without its old rows. Files written meanwhile are newer than the horizon: left alone."""
    folder = Path(directory)
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    horizon = (now if now is not None else pd.Timestamp.now(tz="UTC")) - retention
    kept, removed = 0, 0
    for path in files:
        stamps = pd.to_datetime(pd.read_parquet(path, columns=[TIMESTAMP])[TIMESTAMP], utc=True)
        old = (stamps < horizon).to_numpy()
        if not old.any():
            kept += 1
            continue
        removed += int(old.sum())
        if not old.all():
            frame = pd.read_parquet(path)
            stem = path.name.removesuffix(".parquet")
            _write_atomic(frame[~old], path.with_name(f"{stem}-x{uuid.uuid4().hex[:6]}.parquet"))
            kept += 1
        path.unlink()
    if removed:
        log.info("prediction log %s: %d rows past retention removed", folder, removed)
    return Expiry(len(files), kept, removed)


class PredictionLog:
    """Thread-safe buffer; ``add`` flushes when ``max_rows`` are waiting or ``max_age_s`` passed
    since the last flush, and ``flush_periodically`` flushes an idle buffer, so at most
    ``max_age_s`` of rows are lost if the process is killed. ``close`` on shutdown flushes, and
    rows added after it (answers still being recorded) are written at once."""

    def __init__(
        self,
        directory: Path | None,
        max_rows: int = 5000,
        max_age_s: float = 10.0,
        erased: Callable[[set[int]], set[int]] | None = None,
    ):
        """``erased(user ids)`` returns those erased meanwhile: their buffered rows are never
        written, whichever replica received the erasure."""
        self.directory = Path(directory) if directory is not None else None
        self._erased = erased
        self.max_rows = max_rows
        self.max_age_s = max_age_s
        self._rows: list[dict] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._closed = threading.Event()

    def add(self, rows: list[dict]) -> Path | None:
        if self.directory is None or not rows:
            return None
        with self._lock:
            self._rows.extend(rows)
            due = (
                len(self._rows) >= self.max_rows
                or time.monotonic() - self._last_flush >= self.max_age_s
                or self._closed.is_set()
            )
        return self.flush() if due else None

    def forget_users(self, user_ids: set[int]) -> int:
        """Drop the buffered rows of ``user_ids``; return how many went."""
        with self._lock:
            before = len(self._rows)
            self._rows = [r for r in self._rows if r[USER_ID] not in user_ids]
            return before - len(self._rows)

    def flush_periodically(self) -> threading.Thread:
        """A daemon thread flushing every ``max_age_s`` until ``close``."""

        def loop() -> None:
            while not self._closed.wait(self.max_age_s):
                self.flush()

        thread = threading.Thread(target=loop, name="prediction-log-flush", daemon=True)
        thread.start()
        return thread

    def close(self) -> Path | None:
        """Stop the periodic flush and write what is buffered (replica shutdown)."""
        self._closed.set()
        return self.flush()

    def flush(self) -> Path | None:
        with self._lock:
            rows, self._rows = self._rows, []
            self._last_flush = time.monotonic()
        if self.directory is None or not rows:
            return None
        try:
            if self._erased is not None:
                gone = self._erased({r[USER_ID] for r in rows})
                rows = [r for r in rows if r[USER_ID] not in gone]
            if not rows:
                return None
            return write_predictions(self.directory, rows)
        except OSError as error:  # logging must never fail a request
            log.warning("could not write %d prediction rows: %s", len(rows), error)
            return None
