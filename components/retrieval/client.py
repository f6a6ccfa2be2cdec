"""The one place a MilvusClient is made: the URI decides Milvus Lite (a ``.db`` path) or a server
(``http(s)://``), and nothing else asks "am I local?".

Milvus Lite holds its ``.db`` folder for one process at a time (an advisory lock kept until the
process ends or ``release_milvus``), and forgets the load state when the process ends: reads go
through ``read_loaded``, which loads a collection once on demand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

log = logging.getLogger(__name__)

T = TypeVar("T")


def is_lite_uri(uri: str) -> bool:
    """True for a Milvus Lite file (``*.db``), False for a server (``http(s)://``)."""
    if uri.startswith(("http://", "https://")):
        return False
    if uri.endswith(".db"):
        return True
    raise ValueError(f"Milvus URI must be a path ending in .db or an http(s):// address: {uri!r}")


def milvus_client(uri: str, token: str | None = None) -> MilvusClient:
    """The one place a MilvusClient is made: a ``.db`` path is Milvus Lite, http(s) a server."""
    if is_lite_uri(uri):
        path = Path(uri).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return MilvusClient(uri=str(path))
    return MilvusClient(uri=uri, token=token or "")


def release_milvus(client: MilvusClient, uri: str) -> None:
    """Close the client; for Milvus Lite also stop its in-process server and free the file lock,
    so another process (serving, the next pipeline step) can open the same ``.db``."""
    client.close()
    if is_lite_uri(uri):
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(Path(uri).expanduser().resolve()))


def _is_not_loaded(err: MilvusException) -> bool:
    message = str(getattr(err, "message", err)).lower()
    return getattr(err, "code", None) == 101 or "not loaded" in message or "released" in message


def read_loaded(client: MilvusClient, name: str, call: Callable[[], T]) -> T:
    """Run a read; if the collection is not loaded (a fresh Milvus Lite process), load it once
    and retry."""
    try:
        return call()
    except MilvusException as err:
        if not _is_not_loaded(err):
            raise
        log.info("loading collection %s on first use", name)
        client.load_collection(name)
        return call()
