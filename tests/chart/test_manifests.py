"""manifests/ and charts/reco-stack: the Kustomize base is the rendered chart, the overlays build
offline with the real kubectl and validate, and every pinned version agrees with
manifests/prerequisites/versions.env."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.chart

OVERLAYS = {"dev": "reco-dev", "prod": "reco-prod"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def test_kustomize_base_is_up_to_date_with_the_chart(lib) -> None:
    proc = lib.run(["bash", lib.MANIFESTS / "render.sh", "--check"], check=False)
    assert proc.returncode == 0, proc.stderr
    base = list(yaml.safe_load_all((lib.MANIFESTS / "base" / "reco-platform.yaml").read_text()))
    values = lib.MANIFESTS / "base" / "values.yaml"
    assert [d for d in base if d] == list(lib.render((values,)))


def build_overlay(lib, name: str) -> list[dict]:
    proc = lib.run([lib.tool("kubectl"), "kustomize", lib.MANIFESTS / "overlays" / name])
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_offline_and_validates(lib, overlay: str) -> None:
    objects = build_overlay(lib, overlay)
    namespace = OVERLAYS[overlay]
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"]["namespace"] == namespace, obj["metadata"]["name"]
    for version in lib.kubernetes_versions():
        errors = [
            f"{o['kind']}/{o['metadata']['name']}: {e}"
            for o in objects
            for e in lib.schema_errors(o, version)
        ]
        assert not errors, "\n".join(errors)
    assert not lib.all_violations(tuple(objects))
    (binding,) = lib.by_kind(objects, "RoleBinding")
    assert binding["subjects"][0]["namespace"] == namespace
    (claim,) = lib.by_kind(objects, "PersistentVolumeClaim")
    for obj in objects:
        for where, _, spec, _ in lib.pod_specs(obj):
            claims = [
                v["persistentVolumeClaim"]["claimName"]
                for v in spec["volumes"]
                if "persistentVolumeClaim" in v
            ]
            assert claims == [claim["metadata"]["name"]], where
    managed = {
        o["metadata"]["labels"]["app.kubernetes.io/managed-by"]
        for o in objects
        if o["kind"] != "PersistentVolumeClaim"
    }
    assert managed == {"kustomize"}


def test_prod_overlay_pins_the_production_images_and_sizes(lib) -> None:
    objects = build_overlay(lib, "prod")
    images = {
        c["image"]
        for o in objects
        for _, _, spec, _ in lib.pod_specs(o)
        for c in spec["containers"]
    }
    assert images and all(
        re.fullmatch(r"registry\.example\.com/reco-platform/reco-[a-z]+:0\.1\.0", i) for i in images
    ), images
    replicas = {
        d["metadata"]["name"]: d["spec"]["replicas"] for d in lib.by_kind(objects, "Deployment")
    }
    assert replicas == {"reco-mlflow": 2, "reco-feast": 2}
    (rayservice,) = lib.by_kind(objects, "RayService")
    worker = rayservice["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
    assert (worker["minReplicas"], worker["replicas"], worker["maxReplicas"]) == (2, 2, 10)


def test_pinned_versions_agree_everywhere(lib) -> None:
    versions = lib.read_versions()
    stack = lib.load_yaml(lib.STACK / "Chart.yaml")
    deps = {d["name"]: d for d in stack["dependencies"]}
    expected = {
        "kuberay-operator": ("KUBERAY_OPERATOR_VERSION", "KUBERAY_HELM_REPO"),
        "milvus": ("MILVUS_CHART_VERSION", "MILVUS_HELM_REPO"),
        "valkey": ("VALKEY_CHART_VERSION", "VALKEY_HELM_REPO"),
    }
    for name, (version_key, repo_key) in expected.items():
        assert deps[name]["version"] == versions[version_key], name
        assert deps[name]["repository"] == versions[repo_key], name
    for step in ("cluster-scoped", "platform"):
        kustomization = lib.load_yaml(
            lib.MANIFESTS / "prerequisites" / "kfp" / step / "kustomization.yaml"
        )
        refs = {r.rsplit("?ref=", 1)[1] for r in kustomization["resources"]}
        assert refs == {versions["KFP_VERSION"]}, step
    kfp_sdk = re.search(r'"kfp==([0-9.]+)"', (lib.REPO / "pyproject.toml").read_text())
    assert (
        kfp_sdk and versions["KFP_VERSION"].rsplit(".", 1)[0] == kfp_sdk.group(1).rsplit(".", 1)[0]
    )
    chart = lib.load_yaml(lib.CHART / "Chart.yaml")
    assert chart["kubeVersion"] == f">={versions['KUBERNETES_MIN_VERSION']}.0-0"
    assert stack["kubeVersion"] == chart["kubeVersion"]
    schemas_readme = (lib.CRD_SCHEMAS / "README.md").read_text()
    assert f"v{versions['KUBERAY_OPERATOR_VERSION']}" in schemas_readme
    assert f"v{versions['PROMETHEUS_OPERATOR_VERSION']}" in schemas_readme
    install = (lib.MANIFESTS / "prerequisites" / "install.sh").read_text()
    assert not re.search(r"\b\d+\.\d+\.\d+\b", install), (
        "install.sh must take versions from versions.env"
    )
    lib.run(["bash", "-n", lib.MANIFESTS / "prerequisites" / "install.sh"])


def test_prerequisite_namespace_enforces_restricted_pod_security(lib) -> None:
    namespaces = [
        d
        for d in yaml.safe_load_all(
            (lib.MANIFESTS / "prerequisites" / "namespace.yaml").read_text()
        )
        if d
    ]
    for ns in namespaces:
        for version in lib.kubernetes_versions():
            assert not lib.schema_errors(ns, version)
    (reco,) = [n for n in namespaces if n["metadata"]["name"] == lib.NAMESPACE]
    assert reco["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    values = lib.load_yaml(lib.CHART / "values.yaml")
    names = {n["metadata"]["name"] for n in namespaces}
    assert values["networkPolicy"]["kuberayOperatorNamespace"] in names


def test_umbrella_chart_declares_pinned_optional_dependencies(lib) -> None:
    out = lib.run([lib.tool("helm"), "lint", lib.STACK]).stdout
    assert "0 chart(s) failed" in out
    stack = lib.load_yaml(lib.STACK / "Chart.yaml")
    values = lib.load_yaml(lib.STACK / "values.yaml")
    platform = lib.load_yaml(lib.CHART / "Chart.yaml")
    for dep in stack["dependencies"]:
        assert re.fullmatch(r"\d+\.\d+\.\d+", dep["version"]), f"{dep['name']} is not pinned"
        if dep["name"] == "reco-platform":
            assert dep["repository"] == "file://../reco-platform"
            assert dep["version"] == platform["version"]
            continue
        assert dep["repository"].startswith("https://"), dep["name"]
        assert dep["condition"] == f"{dep['name']}.enabled"
        assert isinstance(values[dep["name"]]["enabled"], bool), dep["name"]
    assert stack["appVersion"] == platform["appVersion"]


@pytest.mark.parametrize("values_file", ["values.yaml", "values-standalone.yaml"])
def test_umbrella_values_render_the_platform_chart(lib, tmp_path: Path, values_file: str) -> None:
    """The umbrella without its remote dependencies (no network here): its reco-platform block
    must pass the platform chart's schema and render."""
    stack = tmp_path / "reco-stack"
    shutil.copytree(lib.STACK, stack)
    chart = lib.load_yaml(stack / "Chart.yaml")
    chart["dependencies"] = [d for d in chart["dependencies"] if d["name"] == "reco-platform"]
    (stack / "Chart.yaml").write_text(yaml.safe_dump(chart))
    shutil.copytree(lib.CHART, stack / "charts" / "reco-platform")
    args = [lib.tool("helm"), "template", lib.RELEASE, stack, "-n", lib.NAMESPACE]
    args += [f"--set=reco-platform.{item}" for item in lib.REQUIRED_SETS]
    if values_file != "values.yaml":
        args += ["-f", stack / values_file]
    objects = [d for d in yaml.safe_load_all(lib.run(args).stdout) if d]
    (settings,) = [
        o for o in lib.by_kind(objects, "ConfigMap") if o["metadata"]["name"] == "reco-settings"
    ]
    merged = lib.load_yaml(lib.STACK / "values.yaml")["reco-platform"]["milvus"]
    if values_file != "values.yaml":
        merged |= lib.load_yaml(lib.STACK / values_file)["reco-platform"]["milvus"]
    assert settings["data"]["RECO_MILVUS_NUM_SHARDS"] == str(merged["numShards"])
    assert settings["data"]["RECO_MILVUS_URI"] == "http://reco-milvus:19530"
    assert settings["data"]["RECO_FEAST_ONLINE_STORE"] == "redis://reco-valkey:6379"
