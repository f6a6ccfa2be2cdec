"""The platform's registry code against a real MLflow server behind its basic auth
(``mlflow server --app-name basic-auth``, as the chart runs it with mlflow.auth): with the
credentials in MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (what the chart gives every
client) it registers a model, moves @champion and downloads it; without them, or with a wrong
password, the server answers 401 and the alias does not move."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mlflow.exceptions import MlflowException

from components.registry import (
    CHAMPION,
    alias_version,
    apply_gate,
    configure_mlflow,
    decide_promotion,
    download_model,
    registry_client,
)

from .milvus_server import free_port, stop_process_group
from .test_registry import NAME, _ranker_dir, _register

pytestmark = pytest.mark.integration

USER, PASSWORD = "reco-admin", "a-long-test-password-1"
STARTUP_TIMEOUT_S = 120.0  # a loaded 2-core machine took 40 s to import and migrate
HTTP_TIMEOUT_S = 30.0
ALIAS_API = "/api/2.0/mlflow/registered-models/alias"


def _wait_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"mlflow server exited with {server.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            if httpx.get(f"{url}/health", timeout=HTTP_TIMEOUT_S).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"mlflow server not healthy after {STARTUP_TIMEOUT_S:.0f} s:\n{log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MLflow with the basic-auth app on loopback: SQLite tracking and user stores, proxied
    artifacts in a temp folder, the admin user from MLFLOW_AUTH_ADMIN_* (as in the chart)."""
    root = tmp_path_factory.mktemp("mlflow-auth")
    config = root / "basic_auth.ini"
    config.write_text(
        f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{root / 'auth.db'}\n"
    )
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_USERNAME": USER,
        "MLFLOW_AUTH_ADMIN_PASSWORD": PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key",
    }
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    log = root / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--app-name",
                "basic-auth",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{root / 'mlflow.db'}",
                "--serve-artifacts",
                "--artifacts-destination",
                (root / "artifacts").as_uri(),
            ],  # fmt: skip
            env=env,
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # stopped as one group (uvicorn's workers with it)
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, server, log)
        yield url
    finally:
        stop_process_group(server, grace_s=5.0)


def test_registry_code_works_with_the_credentials_and_is_refused_without(
    auth_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = auth_server
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    # Nothing gets in without credentials: not the REST API, not the registry code.
    body = {"name": NAME, "alias": CHAMPION, "version": "1"}
    assert httpx.post(f"{uri}{ALIAS_API}", json=body, timeout=HTTP_TIMEOUT_S).status_code == 401
    assert (
        httpx.post(
            f"{uri}{ALIAS_API}", json=body, auth=(USER, "wrong"), timeout=HTTP_TIMEOUT_S
        ).status_code
        == 401
    )
    with pytest.raises(MlflowException, match="401|[Uu]nauthori"):
        registry_client(uri).search_registered_models()

    # With them (the env the chart sets from the Secret), the platform's registry code works.
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", USER)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    configure_mlflow(uri, "auth-test", None)
    client = registry_client(uri)
    version = _register(_ranker_dir(tmp_path))
    apply_gate(client, {NAME: version}, decide_promotion(0.2, None))
    assert str(alias_version(client, NAME, CHAMPION).version) == version
    downloaded = download_model(uri, NAME, CHAMPION, tmp_path / "dl")  # proxied artifacts
    assert (downloaded / "artifacts").is_dir()

    # A wrong password cannot move the alias: it still points where the admin put it.
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-password")
    with pytest.raises(MlflowException, match="401|[Uu]nauthori"):
        registry_client(uri).set_registered_model_alias(NAME, CHAMPION, version)
    refused = httpx.delete(
        f"{uri}{ALIAS_API}",
        params={"name": NAME, "alias": CHAMPION},
        auth=(USER, "nope"),
        timeout=HTTP_TIMEOUT_S,
    )
    assert refused.status_code == 401
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    assert str(alias_version(registry_client(uri), NAME, CHAMPION).version) == version


def test_the_documented_password_rotation(
    auth_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/security.md: change the admin password through MLflow's API first (the server
    ignores MLFLOW_AUTH_ADMIN_PASSWORD once the user exists); then the old one is refused."""
    from mlflow.server.auth.client import AuthServiceClient

    new = "a-rotated-test-password-2"
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", USER)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    AuthServiceClient(auth_server).update_user_password(USER, new, current_password=PASSWORD)
    try:
        search = f"{auth_server}/api/2.0/mlflow/registered-models/search"
        assert httpx.get(search, auth=(USER, PASSWORD), timeout=HTTP_TIMEOUT_S).status_code == 401
        assert httpx.get(search, auth=(USER, new), timeout=HTTP_TIMEOUT_S).status_code == 200
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", new)  # the patched Secret, clients restarted
        registry_client(auth_server).search_registered_models()
    finally:
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", new)
        AuthServiceClient(auth_server).update_user_password(USER, PASSWORD, current_password=new)
