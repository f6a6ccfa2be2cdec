"""When a drift finding becomes a retraining: a pure decision, a file state, a lock, a log.

- ``decide`` is pure: drift when the share of drifted features reaches the threshold or a named
  key feature drifted; no retraining inside the cool-down after the last one, nor while another
  retraining holds the lock. Every decision carries its reasons in words.
- ``decide_scheduled`` is the schedule's (pure too): a retraining is due at every tick, unless
  the same cool-down or lock says no. Both go through ``retrain_blocked``: one cool-down and one
  lock, whichever trigger (drift or the schedule) started the last retraining.
- ``state.json`` (in ``monitoring_dir``) keeps the last retraining time, its run id, counters and
  the most recent decisions; it is replaced atomically.
- ``retrain.lock`` is created with ``O_CREAT | O_EXCL`` (atomic on a local or NFS v3+ volume), so
  two checks never start two retrainings; a lock older than ``stale_after`` is taken to belong to
  a dead process and is broken.
- ``decisions.jsonl`` records every decision, one JSON object a line, appended.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitoring.drift import DriftResult

STATE_FILE = "state.json"
LOCK_FILE = "retrain.lock"
DECISIONS_FILE = "decisions.jsonl"
RECENT_DECISIONS = 20

# What asked for a retraining.
DRIFT_TRIGGER, SCHEDULE_TRIGGER = "drift", "schedule"

# Decision statuses.
NO_DRIFT = "no-drift"
RETRAIN = "retrain"  # the policy says retrain (before anything is started)
SCHEDULED = "scheduled"  # the schedule says retrain (before anything is started)
STARTED = "retrain-started"
COOLDOWN = "cooldown"
LOCKED = "locked"
DRY_RUN = "dry-run"
ERROR = "error"
FAILED = "retrain-failed"


class RetrainLockBusy(RuntimeError):
    """Another retraining holds the lock."""


@dataclass
class MonitorState:
    last_retrain_at: str | None = None  # ISO timestamp (UTC)
    last_run_id: str | None = None
    retrain_count: int = 0
    check_count: int = 0
    error_count: int = 0
    recent: list[dict[str, Any]] = field(default_factory=list)

    def last_retrain_time(self) -> datetime | None:
        return (
            None if self.last_retrain_at is None else datetime.fromisoformat(self.last_retrain_at)
        )


@dataclass
class Decision:
    """What one check concluded and why; ``started`` only once a run was actually started."""

    at: str
    status: str
    drift: bool
    retrain: bool
    reasons: list[str]
    share_drifted: float | None = None
    threshold: float | None = None
    drifted_features: list[str] = field(default_factory=list)
    key_features: list[str] = field(default_factory=list)
    key_features_drifted: list[str] = field(default_factory=list)
    score_drift: bool | None = None
    engagement_drift: bool | None = None
    cooldown_seconds: float | None = None
    report_html: str | None = None
    report_json: str | None = None
    started: bool = False
    run_id: str | None = None
    target: str | None = None
    error: str | None = None
    trigger: str = DRIFT_TRIGGER

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return f"{self.status}: " + "; ".join(self.reasons)


def _iso(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def decide(
    result: DriftResult,
    state: MonitorState,
    now: datetime,
    threshold: float,
    key_features: Sequence[str],
    cooldown: timedelta,
    retraining_in_progress: bool = False,
) -> Decision:
    """Pure policy: drift (share >= threshold, or a key feature drifted), then cool-down, lock."""
    keys = list(key_features)
    key_drifted = [k for k in keys if result.drifted(k)]
    reasons: list[str] = []
    share = result.share_drifted
    if share >= threshold:
        reasons.append(
            f"share of drifted features {share:.2f} >= threshold {threshold:.2f} "
            f"({', '.join(result.drifted_features)})"
        )
    for key in key_drifted:
        column = result.columns[key]
        reasons.append(
            f"key feature '{key}' drifted ({column.method} {column.score:.3f}, "
            f"threshold {column.threshold:g})"
        )
    drift = bool(reasons)
    if not drift:
        reasons.append(
            f"no drift: share of drifted features {share:.2f} < threshold {threshold:.2f}"
            + (f", no key feature drifted ({', '.join(keys)})" if keys else "")
        )
    unmeasured = [k for k in keys if k not in result.columns]
    if unmeasured:
        reasons.append(f"key feature(s) not measured in this window: {', '.join(unmeasured)}")

    return _decision(
        now,
        RETRAIN if drift else NO_DRIFT,
        drift,
        reasons,
        state,
        cooldown,
        retraining_in_progress,
        drift=drift,
        share_drifted=share,
        threshold=threshold,
        drifted_features=list(result.drifted_features),
        key_features=keys,
        key_features_drifted=key_drifted,
        score_drift=result.score_drift,
        engagement_drift=result.engagement_drift,
        report_html=str(result.report_html_path),
        report_json=str(result.report_json_path),
    )


def retrain_blocked(
    state: MonitorState, now: datetime, cooldown: timedelta, retraining_in_progress: bool
) -> tuple[str, str] | None:
    """Why a retraining may not start now, as (status, reason), or None when it may: inside the
    cool-down after the last retraining (drift-triggered or scheduled alike), or while another
    retraining holds the lock. The one rule both triggers obey."""
    last = state.last_retrain_time()
    if last is not None and now - last < cooldown:
        return COOLDOWN, (
            f"cool-down: last retraining at {state.last_retrain_at} "
            f"({(now - last).total_seconds() / 3600:.1f} h ago < "
            f"{cooldown.total_seconds() / 3600:.1f} h)"
        )
    if retraining_in_progress:
        return LOCKED, "another retraining is in progress (lock held)"
    return None


def decide_scheduled(
    state: MonitorState, now: datetime, cooldown: timedelta, retraining_in_progress: bool = False
) -> Decision:
    """Pure policy of a schedule tick: retrain, unless the shared cool-down or lock says no."""
    return _decision(
        now,
        SCHEDULED,
        True,
        ["scheduled retraining"],
        state,
        cooldown,
        retraining_in_progress,
        drift=False,
        trigger=SCHEDULE_TRIGGER,
    )


def _decision(
    now: datetime,
    status: str,
    wants_retrain: bool,
    reasons: list[str],
    state: MonitorState,
    cooldown: timedelta,
    retraining_in_progress: bool,
    **fields: Any,
) -> Decision:
    """The Decision of either trigger: one that wants a retraining still gets ``retrain_blocked``'s
    no (its status and reason) inside the cool-down or while the lock is held."""
    retrain = wants_retrain
    blocked = retrain_blocked(state, now, cooldown, retraining_in_progress) if retrain else None
    if blocked is not None:
        status, retrain = blocked[0], False
        reasons.append(blocked[1])
    return Decision(
        at=_iso(now),
        status=status,
        retrain=retrain,
        reasons=reasons,
        cooldown_seconds=cooldown.total_seconds(),
        **fields,
    )


def error_decision(now: datetime, error: BaseException) -> Decision:
    """A check that could not measure anything: recorded, never a retraining."""
    return Decision(
        at=_iso(now),
        status=ERROR,
        drift=False,
        retrain=False,
        reasons=[f"check failed, nothing decided: {error}"],
        error=f"{type(error).__name__}: {error}",
    )


# --- state -----------------------------------------------------------------------------------


def load_state(folder: Path) -> MonitorState:
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        return MonitorState()
    data = json.loads(path.read_text())
    known = MonitorState.__dataclass_fields__
    return MonitorState(**{k: v for k, v in data.items() if k in known})


def save_state(folder: Path, state: MonitorState) -> Path:
    """Write to a temporary file and rename over: a reader never sees half a state."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STATE_FILE
    scratch = folder / f".{STATE_FILE}.{uuid.uuid4().hex}"
    scratch.write_text(json.dumps(asdict(state), indent=2))
    os.replace(scratch, path)
    return path


def record_decision(folder: Path, decision: Decision) -> Path:
    """Append the decision to ``decisions.jsonl`` and fold it into the state's counters."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DECISIONS_FILE
    line = json.dumps(decision.as_dict(), default=str) + "\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)
    state = load_state(folder)
    state = replace(
        state,
        check_count=state.check_count + 1,
        error_count=state.error_count + (decision.status in (ERROR, FAILED)),
        recent=[
            *state.recent,
            {
                "at": decision.at,
                "status": decision.status,
                "reasons": decision.reasons,
                "run_id": decision.run_id,
                "trigger": decision.trigger,
            },
        ][-RECENT_DECISIONS:],
    )
    save_state(folder, state)
    return path


def read_decisions(folder: Path) -> list[dict[str, Any]]:
    path = Path(folder) / DECISIONS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def mark_retraining(folder: Path, now: datetime, run_id: str | None = None) -> MonitorState:
    """Record a retraining start (before it runs, so a crash cannot cause a retry storm)."""
    state = load_state(folder)
    if run_id is None:
        state = replace(state, last_retrain_at=_iso(now), retrain_count=state.retrain_count + 1)
    else:
        state = replace(state, last_run_id=run_id)
    save_state(folder, state)
    return state


# --- lock ------------------------------------------------------------------------------------


def _lock_age(path: Path, now: datetime) -> timedelta | None:
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return now - datetime.fromtimestamp(mtime, tz=UTC)


def lock_holder(path: Path, stale_after: timedelta, now: datetime | None = None) -> dict | None:
    """Who holds the lock (its JSON content), or None when it is free or stale."""
    now = now or datetime.now(UTC)
    age = _lock_age(Path(path), now)
    if age is None or age > stale_after:
        return None
    try:
        return json.loads(Path(path).read_text() or "{}")
    except (OSError, ValueError):
        return {}


@contextmanager
def retrain_lock(
    path: Path, stale_after: timedelta, now: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Hold ``retrain.lock`` for the duration; RetrainLockBusy if someone else holds it.

    A stale lock is moved aside under a unique name first (``os.rename`` is atomic), so two
    processes breaking the same stale lock cannot both win."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    now = now or datetime.now(UTC)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "acquired_at": _iso(now)}
    for attempt in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            age = _lock_age(path, now)
            if attempt == 0 and age is not None and age > stale_after:
                aside = path.with_name(f"{path.name}.stale.{uuid.uuid4().hex}")
                try:
                    os.rename(path, aside)
                    aside.unlink()
                except FileNotFoundError:
                    pass  # another process broke it first; try once more
                continue
            holder = lock_holder(path, stale_after, now) or {}
            raise RetrainLockBusy(f"retraining lock {path} is held by {holder}") from None
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(info))
        break
    try:
        yield info
    finally:
        path.unlink(missing_ok=True)
