"""MLflow behind its basic auth on the rendered chart (mlflow.auth): the server runs the auth app
with the admin user from a Secret, every MLflow client container (and only those) gets the
credentials through secretKeyRef, the compiled pipelines are told the Secret's name, and no
password is printed anywhere. The server's start script is run for real with a stand-in
``mlflow`` to check the config file it writes."""

from __future__ import annotations

import base64
import configparser
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.chart

SECRET = "reco-mlflow-auth"
CLIENT_ENV = {
    "MLFLOW_TRACKING_USERNAME": (SECRET, "username"),
    "MLFLOW_TRACKING_PASSWORD": (SECRET, "password"),
}
SERVER_ENV = {
    "MLFLOW_AUTH_ADMIN_USERNAME": (SECRET, "username"),
    "MLFLOW_AUTH_ADMIN_PASSWORD": (SECRET, "password"),
    "MLFLOW_FLASK_SERVER_SECRET_KEY": (SECRET, "flask_secret_key"),
}
# The containers that call MLflow: the Serve replicas (head and workers) and the drift check
# (it reads the champion's reference). Not the scheduled retraining (KFP only), the maintenance
# job (files only), the pipeline upload (KFP only), Feast, the autoscaler.
CLIENTS = {"ray-head", "ray-worker", "drift"}


def _containers(lib, objects) -> dict[str, tuple[dict, dict]]:
    """container name -> (pod metadata, container) of every pod of the release."""
    out = {}
    for obj in objects:
        for _, metadata, spec, _ in lib.pod_specs(obj):
            for container in spec["containers"]:
                out[container["name"]] = (metadata, container)
    return out


def _secret_env(container: dict, names) -> dict[str, tuple[str, str]]:
    out = {}
    for env in container.get("env", []):
        if env["name"] in names:
            ref = env["valueFrom"]["secretKeyRef"]  # never a plain value
            out[env["name"]] = (ref["name"], ref["key"])
    return out


def _settings(lib, objects) -> dict[str, str]:
    (cm,) = [
        c for c in lib.by_kind(objects, "ConfigMap") if c["metadata"]["name"] == "reco-settings"
    ]
    return cm["data"]


def test_mlflow_runs_the_auth_app_and_every_client_signs_in_from_the_secret(lib) -> None:
    objects = lib.render()
    secrets = {s["metadata"]["name"]: s for s in lib.by_kind(objects, "Secret")}
    data = secrets[SECRET]["data"]
    assert base64.b64decode(data["username"]).decode() == "reco-admin"
    password = base64.b64decode(data["password"]).decode()
    flask_key = base64.b64decode(data["flask_secret_key"]).decode()
    assert len(password) == len(flask_key) == 64 and password != flask_key  # random, 12+ chars
    # the user store outlives the release (it is in the backend database): so does the password
    assert secrets[SECRET]["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}

    containers = _containers(lib, objects)
    _, server = containers["mlflow"]
    assert server["command"] == ["/bin/sh", "-c"]
    assert "exec mlflow server --app-name=basic-auth " in server["args"][0]
    assert _secret_env(server, SERVER_ENV) == SERVER_ENV
    assert not _secret_env(server, CLIENT_ENV)
    for name, (metadata, container) in containers.items():
        env = _secret_env(container, CLIENT_ENV)
        if name in CLIENTS:
            assert env == CLIENT_ENV, name
            # a new password (patched Secret + helm upgrade) rolls the clients: a hash only
            assert len(metadata["annotations"]["checksum/mlflow-auth"]) == 64, name
        else:
            assert not env, f"{name} gets the MLflow credentials"
    assert set(CLIENTS) <= set(containers)
    assert _settings(lib, objects)["RECO_MLFLOW_AUTH_SECRET"] == SECRET
    # Nothing prints the password or the Flask key: only the Secret holds them (base64).
    for obj in objects:
        if obj["kind"] != "Secret":
            assert password not in str(obj) and flask_key not in str(obj), obj["metadata"]["name"]
            assert data["password"] not in str(obj), obj["metadata"]["name"]


def test_the_start_script_writes_the_auth_config_from_the_backend_uri(lib, tmp_path) -> None:
    """Run the rendered script with a stand-in ``mlflow`` (prints its arguments): the config file
    is private and names the backend store as the user store, '%' escapes included."""
    (_, server) = _containers(lib, lib.render())["mlflow"]
    fake = tmp_path / "bin" / "mlflow"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    uri = "postgresql+psycopg2://mlflow:p%40ss%25word@postgres:5432/mlflow"
    config = tmp_path / "basic_auth.ini"
    env = {
        "PATH": f"{fake.parent}:{os.environ['PATH']}",
        "MLFLOW_BACKEND_STORE_URI": uri,
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
    }
    proc = subprocess.run(
        [*server["command"], server["args"][0]], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        "server",
        "--app-name=basic-auth",
        "--host=0.0.0.0",
        "--port=5000",
        "--workers=2",
        "--serve-artifacts",
        "--artifacts-destination=s3://mlflow-artifacts",
    ]
    assert Path(config).stat().st_mode & 0o077 == 0
    parser = configparser.ConfigParser()  # as mlflow.server.auth.config reads it
    parser.read(config)
    assert dict(parser["mlflow"]) == {"default_permission": "READ", "database_uri": uri}


def test_existing_secret_is_used_and_none_is_generated(lib) -> None:
    objects = lib.render(sets=("mlflow.auth.existingSecret=my-mlflow-auth",))
    assert SECRET not in {s["metadata"]["name"] for s in lib.by_kind(objects, "Secret")}
    containers = _containers(lib, objects)
    for name in CLIENTS:
        metadata, container = containers[name]
        assert {k: v[0] for k, v in _secret_env(container, CLIENT_ENV).items()} == {
            k: "my-mlflow-auth" for k in CLIENT_ENV
        }, name
        assert "checksum/mlflow-auth" not in (metadata.get("annotations") or {}), name
    _, server = containers["mlflow"]
    assert {v[0] for v in _secret_env(server, SERVER_ENV).values()} == {"my-mlflow-auth"}
    assert _settings(lib, objects)["RECO_MLFLOW_AUTH_SECRET"] == "my-mlflow-auth"


def test_auth_can_be_switched_off(lib) -> None:
    objects = lib.render(sets=("mlflow.auth.enabled=false",))
    assert SECRET not in {s["metadata"]["name"] for s in lib.by_kind(objects, "Secret")}
    containers = _containers(lib, objects)
    _, server = containers["mlflow"]
    assert "command" not in server and "--app-name=basic-auth" not in server["args"]
    for name, (_, container) in containers.items():
        names = {e["name"] for e in container.get("env", [])}
        assert not names & (set(CLIENT_ENV) | set(SERVER_ENV)), name
    assert "RECO_MLFLOW_AUTH_SECRET" not in _settings(lib, objects)


def test_an_external_mlflow_needs_its_credentials_or_auth_off(lib) -> None:
    external = ("mlflow.enabled=false", "mlflow.externalUri=https://mlflow.example.com")
    proc = lib.helm_template(sets=external)
    assert proc.returncode != 0
    assert "set mlflow.auth.existingSecret" in proc.stderr, proc.stderr
    objects = lib.render(sets=(*external, "mlflow.auth.existingSecret=shared-mlflow-login"))
    assert not lib.by_kind(objects, "Secret") or SECRET not in {
        s["metadata"]["name"] for s in lib.by_kind(objects, "Secret")
    }
    containers = _containers(lib, objects)
    assert "mlflow" not in containers
    _, head = containers["ray-head"]
    assert {v[0] for v in _secret_env(head, CLIENT_ENV).values()} == {"shared-mlflow-login"}
    assert _settings(lib, objects)["RECO_MLFLOW_AUTH_SECRET"] == "shared-mlflow-login"


def test_production_values_turn_auth_on_with_a_managed_secret(lib) -> None:
    objects = lib.render((lib.CHART / "values-production.yaml",))
    _, server = _containers(lib, objects)["mlflow"]
    assert "--app-name=basic-auth" in server["args"][0]
    assert {v[0] for v in _secret_env(server, SERVER_ENV).values()} == {"reco-mlflow-auth"}
    assert SECRET not in {s["metadata"]["name"] for s in lib.by_kind(objects, "Secret")}
