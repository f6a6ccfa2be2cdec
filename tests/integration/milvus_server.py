"""A real Milvus standalone server on loopback, from the PyPI package ``milvus`` (2.3.5, in the
dev extra): ``milvus-server --data DIR --proxy-port N`` runs etcd and local storage embedded.
The tests (a fixture in ``conftest.py``) and ``benchmarks/ann.py`` start it with
``running_milvus_server`` to exercise what Milvus Lite ignores (shards, index types, aliases on a
server).

``milvus-server`` is a Python wrapper that unpacks and runs the ``milvus`` binary as its child.
The wrapper stops that child on SIGINT (not on SIGTERM), and the binary can take over 20 s to
shut down gracefully, so we stop the whole process group: SIGINT, then SIGKILL after a grace
period. Other ports (etcd, coordinators, metrics) are picked by the wrapper itself, scanning up
from Milvus' defaults for free ones, so several servers can run side by side.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

STARTUP_TIMEOUT_S = 180.0
STOP_GRACE_S = 10.0


def milvus_server_command() -> str | None:
    """``milvus-server`` on PATH or next to this interpreter (a venv not activated)."""
    beside = Path(sys.executable).parent / "milvus-server"
    return shutil.which("milvus-server") or (str(beside) if beside.exists() else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(log_path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_until_serving(
    uri: str, server: subprocess.Popen, timeout_s: float, log_path: Path
) -> float:
    """Block until pymilvus can list collections on ``uri``; returns the seconds it took."""
    from pymilvus import MilvusClient

    started = time.monotonic()
    last_error: Exception | None = None
    while time.monotonic() - started < timeout_s:
        if server.poll() is not None:
            raise RuntimeError(
                f"milvus-server exited with {server.returncode} before serving; "
                f"log {log_path}:\n{_log_tail(log_path)}"
            )
        try:
            client = MilvusClient(uri=uri, timeout=5)
            try:
                client.list_collections()
            finally:
                client.close()
            return time.monotonic() - started
        except Exception as error:  # noqa: BLE001 - not up yet: gRPC refuses or times out
            last_error = error
            time.sleep(1.0)
    raise TimeoutError(
        f"milvus-server not serving at {uri} after {timeout_s:.0f} s ({last_error}); "
        f"log {log_path}:\n{_log_tail(log_path)}"
    )


def stop_process_group(server: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGINT to the wrapper's group (the wrapper stops and reaps the binary), SIGKILL to
    whatever is left after ``grace_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=grace_s)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(server.pid, 0)  # anyone left in the group (the binary, orphaned)?
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=grace_s)


@contextlib.contextmanager
def running_milvus_server(
    data_dir: Path,
    port: int | None = None,
    timeout_s: float = STARTUP_TIMEOUT_S,
    extra_config: dict[str, str] | None = None,
) -> Iterator[str]:
    """Start ``milvus-server`` with its data in ``data_dir`` on a loopback port; yields its
    ``http://127.0.0.1:PORT`` URI once pymilvus connects, and stops it on exit.
    ``extra_config`` sets milvus.yaml keys, e.g. ``{"dataCoord.segment.maxSize": "1024"}``."""
    command = milvus_server_command()
    if command is None:
        raise FileNotFoundError("milvus-server not found: pip install milvus==2.3.5 (dev extra)")
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = data_dir / "milvus-server.log"
    extra = [f"--extra-config={key}={value}" for key, value in (extra_config or {}).items()]
    with open(log_path, "ab") as log_file:
        server = subprocess.Popen(
            [command, "--data", str(data_dir), "--proxy-port", str(port), *extra],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group: stopped as one, spared the terminal's ^C
        )
    try:
        uri = f"http://127.0.0.1:{port}"
        wait_until_serving(uri, server, timeout_s, log_path)
        yield uri
    finally:
        stop_process_group(server)
