"""Read access to the Milvus item index for a long-running server process.

A Milvus server (``http(s)://``) is simply connected to. Milvus Lite (a ``.db`` folder) is
different: a process that opens it holds an exclusive lock on the folder until it closes it, so a
serving replica that kept it open would make every later training run fail at its index step,
and two replicas could not both open it. A replica therefore takes the lock only for the
milliseconds it needs to copy the folder into its own scratch space, and searches the private
copy (same Milvus Lite engine, same collections, same HNSW index). A new model version brings a
new collection; the replica then takes a new copy (``open_index_reader`` again) and closes the
old one. The copy is taken only while no other process has the folder open, so it is consistent.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from components.recommend.candidates import SearchFn
from components.retrieval.client import is_lite_uri, milvus_client, release_milvus
from components.retrieval.filters import AVAILABLE_FILTER, and_filters, category_filter
from components.retrieval.info import alias_target, collection_info
from components.retrieval.search import search_items

log = logging.getLogger(__name__)

LOCK_FILE = "LOCK"  # milvus_lite.db: the advisory flock file inside a Lite data folder


class IndexBusyError(RuntimeError):
    """Another process holds the Milvus Lite folder (a training step is writing to it)."""


@dataclass
class IndexReader:
    client: Any  # pymilvus.MilvusClient
    uri: str  # what the client was opened with (the private copy for Lite)
    source_uri: str
    snapshot_dir: Path | None = None

    def close(self) -> None:
        try:
            release_milvus(self.client, self.uri)
        except Exception as error:  # noqa: BLE001 - closing must not raise
            log.warning("closing Milvus client for %s: %s", self.uri, error)
        if self.snapshot_dir is not None:
            shutil.rmtree(self.snapshot_dir, ignore_errors=True)


@contextlib.contextmanager
def folder_lock(folder: Path, timeout_s: float) -> Iterator[None]:
    """Hold Milvus Lite's own lock on ``folder`` (retrying until ``timeout_s``)."""
    fd = os.open(folder / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    raise IndexBusyError(f"{folder} is held by another process") from error
                time.sleep(0.05)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def snapshot_lite(source: Path, scratch_dir: Path, timeout_s: float = 5.0) -> Path:
    """Copy a Milvus Lite folder under its lock into a new folder below ``scratch_dir``;
    returns the copy's path (ending in ``.db``, so it opens as Milvus Lite)."""
    source = Path(source).expanduser().resolve()
    if not source.is_dir():
        raise FileNotFoundError(f"no Milvus Lite folder at {source}")
    scratch_dir.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(prefix="milvus-", dir=scratch_dir))
    target = holder / source.name
    try:
        with folder_lock(source, timeout_s):
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(LOCK_FILE))
    except BaseException:
        shutil.rmtree(holder, ignore_errors=True)
        raise
    return target


def open_index_reader(
    uri: str, token: str | None, scratch_dir: Path, lock_timeout_s: float = 5.0
) -> IndexReader:
    """A client for searching: a server directly, Milvus Lite through a private copy."""
    if not is_lite_uri(uri):
        return IndexReader(milvus_client(uri, token), uri, uri)
    copy = snapshot_lite(Path(uri), scratch_dir, lock_timeout_s)
    try:
        client = milvus_client(str(copy))
    except BaseException:
        shutil.rmtree(copy.parent, ignore_errors=True)
        raise
    return IndexReader(client, str(copy), uri, copy.parent)


def prepare_collection(reader: IndexReader, name: str) -> dict[str, Any]:
    """Load ``name`` (or an alias) for search and return its search parameters as recorded at
    build time (``{}`` when it has none)."""
    target = alias_target(reader.client, name) or name
    reader.client.load_collection(target)
    try:
        return dict(collection_info(reader.client, target).get("search_params") or {})
    except Exception:  # noqa: BLE001 - parameters are an optimisation
        return {}


def make_search(reader: IndexReader, collection: str, search_params: dict[str, Any]) -> SearchFn:
    """``search(vectors, k, categories, exclude)`` over ``collection``: available items only,
    in any of ``categories`` when given, ``exclude[i]`` skipped for query i (one Milvus call
    for every query vector: several requests share it)."""

    def search(
        vectors: np.ndarray, k: int, categories: Sequence[str] | None, exclude: Sequence[set[int]]
    ) -> list[list[tuple[int, float]]]:
        wanted = category_filter(categories) if categories else None
        expression = and_filters(AVAILABLE_FILTER, wanted)
        queries = np.asarray(vectors, dtype=np.float32).reshape(-1, vectors.shape[-1])
        return search_items(
            reader.client,
            collection,
            queries,
            k,
            filter_expr=expression,
            exclude=list(exclude),
            search_params=search_params,
        )

    return search
