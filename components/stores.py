"""Stores a long-running reader (a serving replica) opens but must never create.

MLflow's SQLite registry, Feast's file registry and SQLite online store, and a Milvus Lite
folder are all created on first use by their clients. A reader that starts while one is missing
would then hold an empty stand-in (and keep its connection to it after the real one is back), so
readers check first and raise ``StoreMissingError``: the caller reports the store as degraded
and tries again later.
"""

from __future__ import annotations

from pathlib import Path


class StoreMissingError(FileNotFoundError):
    """A store's file is not there; nothing was created in its place."""


def require_file(path: Path, what: str) -> None:
    """Raise ``StoreMissingError`` naming ``what`` unless ``path`` is an existing file."""
    if not Path(path).is_file():
        raise StoreMissingError(f"{what} file {path} is missing")
