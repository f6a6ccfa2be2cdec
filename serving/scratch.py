"""Each replica's private scratch folder (model downloads, Milvus Lite copies), and the removal
of folders whose replica died.

A replica holds an exclusive lock on its folder's OWNER file for its whole life (the kernel drops
the lock when the process dies, however it dies), so a folder whose lock can be taken belongs to
nobody: each new replica removes such leftovers of dead replicas before making its own.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from serving.config import ServeArgs

log = logging.getLogger(__name__)

OWNER_FILE = ".owner"
UNOWNED_GRACE_S = 60.0  # a folder without an owner file may be one being created right now
_owned: dict[Path, int] = {}  # this process's scratch folders -> the locked owner file


def _pid_of(folder: Path) -> int | None:
    """The pid in a ``<role>-<pid>-<random>`` folder name."""
    parts = folder.name.split("-")
    return int(parts[1]) if len(parts) >= 3 and parts[1].isdigit() else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _unowned(folder: Path, now: float) -> bool:
    """Whether no live process owns ``folder`` (its owner lock is free; without an owner file,
    a folder older than the grace whose pid is gone)."""
    owner = folder / OWNER_FILE
    try:
        fd = os.open(owner, os.O_RDWR)
    except FileNotFoundError:
        pid = _pid_of(folder)
        old = now - folder.stat().st_mtime > UNOWNED_GRACE_S
        return old and pid is not None and not _pid_alive(pid)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live replica holds it
    finally:
        os.close(fd)  # closing drops the probe's lock
    return True


def clean_stale_scratch(root: Path) -> list[Path]:
    """Remove the scratch folders under ``root`` that no live process owns; returns them."""
    removed = []
    if not root.is_dir():
        return removed
    now = time.time()
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder in _owned:
            continue
        try:
            if _unowned(folder, now):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        except OSError as error:  # raced with its owner removing it: nothing to do
            log.debug("scratch %s: %s", folder, error)
    if removed:
        log.info("removed %d scratch folders of dead replicas under %s", len(removed), root)
    return removed


def replica_scratch(args: ServeArgs, role: str) -> Path:
    """A private scratch folder per replica (downloads, Milvus Lite copies), owned (locked) for
    the replica's life; leftovers of dead replicas are removed first."""
    args.scratch_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_scratch(args.scratch_dir)
    path = Path(tempfile.mkdtemp(prefix=f"{role}-{os.getpid()}-", dir=args.scratch_dir))
    fd = os.open(path / OWNER_FILE, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _owned[path] = fd
    return path


def remove_scratch(path: Path | None) -> None:
    """Remove a replica's scratch folder (when it retires) and release its ownership."""
    if path is None:
        return
    shutil.rmtree(path, ignore_errors=True)
    fd = _owned.pop(path, None)
    if fd is not None:
        os.close(fd)
