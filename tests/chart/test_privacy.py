"""The privacy Secrets on the rendered chart: the user-id key and the admin token are generated
(or named), reach the serving (Ray) containers only through secretKeyRef, and the compiled
pipeline is told which Secret holds the id key."""

from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.chart

PRIVACY_ENV = {
    "RECO_ID_KEY": ("reco-id-key", "id_key"),
    "RECO_ADMIN_TOKEN": ("reco-admin-token", "admin_token"),
}


def _containers(lib, objects):
    return [
        (f"{o['kind']}/{o['metadata']['name']}/{c['name']}", c)
        for o in objects
        for _, _, spec, _ in lib.pod_specs(o)
        for c in spec["containers"]
    ]


def _secret_env(container: dict) -> dict[str, tuple[str, str]]:
    out = {}
    for env in container.get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            out[env["name"]] = (ref["name"], ref["key"])
    return out


def test_generated_secrets_reach_the_serving_containers_only(lib) -> None:
    objects = lib.render()
    secrets = {s["metadata"]["name"]: s for s in lib.by_kind(objects, "Secret")}
    key = base64.b64decode(secrets["reco-id-key"]["data"]["id_key"])
    token = base64.b64decode(secrets["reco-admin-token"]["data"]["admin_token"])
    assert len(key) == len(token) == 64 and key != token  # random, long enough for HMAC
    # the id key outlives an uninstall: a new key would re-key every user
    assert secrets["reco-id-key"]["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    serving = []
    for where, container in _containers(lib, objects):
        env = _secret_env(container)
        if container["name"].startswith("ray-"):
            serving.append(where)
            assert {k: env[k] for k in PRIVACY_ENV} == PRIVACY_ENV, where
        else:
            assert not set(PRIVACY_ENV) & set(env), f"{where} gets a privacy secret"
        values = [str(e.get("value", "")) for e in container.get("env", [])]
        assert key.decode() not in values and token.decode() not in values, where
    assert len(serving) == 2  # the head and the workers (Serve replicas run on both)
    (settings,) = [
        c for c in lib.by_kind(objects, "ConfigMap") if c["metadata"]["name"] == "reco-settings"
    ]
    assert settings["data"]["RECO_ID_KEY_SECRET"] == "reco-id-key"
    assert "RECO_ID_KEY" not in settings["data"] and "RECO_ADMIN_TOKEN" not in settings["data"]


def test_existing_secrets_are_referenced_and_none_generated(lib) -> None:
    objects = lib.render(
        sets=(
            "privacy.idKey.existingSecret=my-key",
            "privacy.idKey.key=k",
            "privacy.adminToken.existingSecret=my-admin",
        )
    )
    names = {s["metadata"]["name"] for s in lib.by_kind(objects, "Secret")}
    assert not names & {"reco-id-key", "reco-admin-token", "my-key", "my-admin"}
    (head, *_) = [c for _, c in _containers(lib, objects) if c["name"] == "ray-head"]
    env = _secret_env(head)
    assert env["RECO_ID_KEY"] == ("my-key", "k")
    assert env["RECO_ADMIN_TOKEN"] == ("my-admin", "admin_token")
    (settings,) = [
        c for c in lib.by_kind(objects, "ConfigMap") if c["metadata"]["name"] == "reco-settings"
    ]
    assert settings["data"]["RECO_ID_KEY_SECRET"] == "my-key"
