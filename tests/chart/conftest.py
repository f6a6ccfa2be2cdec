"""Shared machinery of the chart tests: the real helm / kubectl / checkov / hadolint from
.tools/bin (installed by scripts/install_tools.sh), offline Kubernetes and CRD schemas, and the
restricted Pod Security checks applied to every rendered pod.

The tools must be there: CI installs them before the tests (`make tools`), so a missing binary
fails the test with the command to run rather than skipping it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "reco-platform"
STACK = REPO / "charts" / "reco-stack"
MANIFESTS = REPO / "manifests"
VERSIONS_FILE = MANIFESTS / "prerequisites" / "versions.env"
CRD_SCHEMAS = Path(__file__).parent / "schemas"
# RECO_TOOLS_DIR: another checkout's .tools (a git worktree shares one without a symlink).
TOOLS = Path(os.environ.get("RECO_TOOLS_DIR") or REPO / ".tools")
RELEASE = "reco"
NAMESPACE = "reco"
PRODUCTION_VALUES = CHART / "values-production.yaml"

LABEL_KEYS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
# Volume types the restricted Pod Security Standard allows.
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def tool(name: str) -> Path:
    """Path of a tool in .tools/bin; fails (not skips) with the fix when it is missing."""
    path = TOOLS / "bin" / name
    if not path.exists():
        pytest.fail(
            f"{name} not found at .tools/bin/{name}: run `make tools` "
            "(bash scripts/install_tools.sh) first; CI installs it before the tests.",
            pytrace=False,
        )
    return path


def run(args: list[str | Path], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a tool from the repository root; on failure show its output in the assertion."""
    proc = subprocess.run([str(a) for a in args], cwd=REPO, capture_output=True, text=True)
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )
    return proc


# Values the chart requires and cannot default: the data retraining trains on. Every render
# here sets it (``required=()`` renders without it, to see the chart refuse).
TRAINING_SOURCE = "/var/lib/reco/data/shop"
REQUIRED_SETS = (f"drift.trainingSource={TRAINING_SOURCE}",)


def helm_template(
    chart: Path = CHART,
    values: tuple[Path, ...] = (),
    sets: tuple[str, ...] = (),
    required: tuple[str, ...] = REQUIRED_SETS,
) -> subprocess.CompletedProcess[str]:
    args: list[str | Path] = [tool("helm"), "template", RELEASE, chart, "--namespace", NAMESPACE]
    for path in values:
        args += ["-f", path]
    for item in (*required, *sets):
        args += ["--set", item]
    return run(args, check=False)


@cache
def render(values: tuple[Path, ...] = (), sets: tuple[str, ...] = ()) -> tuple[dict, ...]:
    """The chart rendered by `helm template`, as objects (cached per argument set)."""
    proc = helm_template(CHART, values, sets)
    if proc.returncode != 0:
        pytest.fail(f"helm template failed:\n{proc.stderr}", pytrace=False)
    return tuple(doc for doc in yaml.safe_load_all(proc.stdout) if doc)


def read_versions() -> dict[str, str]:
    """manifests/prerequisites/versions.env as a dict (KEY=VALUE lines)."""
    pairs = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def kubernetes_versions() -> tuple[str, str]:
    versions = read_versions()
    return versions["KUBERNETES_MIN_VERSION"], versions["KUBERNETES_MAX_VERSION"]


# --- schema validation ----------------------------------------------------------------------


def _schema_root() -> Path:
    pattern = "python*/site-packages/kubernetes_validate/kubernetes-json-schema"
    found = sorted((TOOLS / "venv" / "lib").glob(pattern))
    if not found:
        pytest.fail(
            "Kubernetes JSON schemas (kubernetes-validate) not found under .tools/venv: "
            "run `make tools` (bash scripts/install_tools.sh) first.",
            pytrace=False,
        )
    return found[-1]


@cache
def _kube_registry(version: str) -> tuple[Path, Registry]:
    folder = _schema_root() / f"v{version}.0-local-strict"
    if not folder.is_dir():
        pytest.fail(f"no strict Kubernetes schemas for {version} in {folder.parent}", pytrace=False)
    definitions = json.loads((folder / "_definitions.json").read_text())
    return folder, Resource.from_contents(definitions) @ Registry()


@cache
def _kind_schema(version: str, kind: str, api_version: str) -> dict[str, Any] | None:
    folder, _ = _kube_registry(version)
    # kubernetes-validate's file naming: rbac.authorization.k8s.io/v1 -> rbac-v1, apps/v1 -> apps-v1
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = folder / f"{kind.lower()}-{api}.json"
    return json.loads(path.read_text()) if path.exists() else None


@cache
def _crd_schema(kind: str, api_version: str) -> dict[str, Any] | None:
    group, _, version = api_version.rpartition("/")
    path = CRD_SCHEMAS / f"{kind.lower()}-{group.split('.')[0]}-{version}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _errors(schema: dict[str, Any], registry: Registry | None, instance: Any) -> list[str]:
    kwargs = {"registry": registry} if registry is not None else {}
    validator = jsonschema.Draft202012Validator(schema, **kwargs)
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    ]


def schema_errors(obj: dict[str, Any], version: str) -> list[str]:
    """Errors of one object against the strict Kubernetes schema of `version` or its CRD schema;
    pod templates inside custom resources are validated as Kubernetes PodTemplateSpecs."""
    kind, api_version = obj["kind"], obj["apiVersion"]
    schema = _kind_schema(version, kind, api_version)
    if schema is not None:
        return _errors(schema, _kube_registry(version)[1], obj)
    crd = _crd_schema(kind, api_version)
    if crd is None:
        return [f"no schema for {api_version} {kind} (Kubernetes {version} or tests/chart/schemas)"]
    errors = _errors(crd, None, obj)
    template_schema = _kind_schema(version, "PodTemplateSpec", "v1")
    assert template_schema is not None
    for where, template in pod_templates_of_custom_resource(obj):
        errors += [
            f"{where}.{e}" for e in _errors(template_schema, _kube_registry(version)[1], template)
        ]
    return errors


# --- pods -----------------------------------------------------------------------------------


def pod_templates_of_custom_resource(obj: dict[str, Any]) -> Iterator[tuple[str, dict]]:
    if obj["kind"] == "RayService":
        cluster = obj["spec"]["rayClusterConfig"]
        yield "headGroupSpec.template", cluster["headGroupSpec"]["template"]
        for i, group in enumerate(cluster.get("workerGroupSpecs", [])):
            yield f"workerGroupSpecs[{i}].template", group["template"]


def pod_specs(obj: dict[str, Any]) -> Iterator[tuple[str, dict, dict, bool]]:
    """(where, pod metadata, pod spec, long_running) for every pod an object creates."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    spec = obj.get("spec", {})
    if kind in ("Deployment", "StatefulSet", "DaemonSet"):
        yield f"{kind}/{name}", spec["template"]["metadata"], spec["template"]["spec"], True
    elif kind == "Job":
        yield f"{kind}/{name}", spec["template"]["metadata"], spec["template"]["spec"], False
    elif kind == "CronJob":
        template = spec["jobTemplate"]["spec"]["template"]
        yield f"{kind}/{name}", template["metadata"], template["spec"], False
    else:
        for where, template in pod_templates_of_custom_resource(obj):
            yield f"{kind}/{name}.{where}", template["metadata"], template["spec"], True


def extra_containers(obj: dict[str, Any]) -> Iterator[tuple[str, dict]]:
    """Containers an operator injects from settings in the custom resource (the Ray autoscaler)."""
    if obj["kind"] == "RayService":
        cluster = obj["spec"]["rayClusterConfig"]
        if cluster.get("enableInTreeAutoscaling"):
            yield (
                f"RayService/{obj['metadata']['name']}.autoscalerOptions",
                cluster.get("autoscalerOptions", {}),
            )


def container_violations(where: str, container: dict[str, Any], probes: bool) -> list[str]:
    """Restricted PSS (and our read-only root, resources and probe rules) for one container."""
    out = []
    sc = container.get("securityContext") or {}
    if sc.get("allowPrivilegeEscalation") is not False:
        out.append(f"{where}: allowPrivilegeEscalation must be false")
    if sc.get("privileged"):
        out.append(f"{where}: privileged")
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        out.append(f"{where}: capabilities.drop must contain ALL")
    if caps.get("add"):
        out.append(f"{where}: capabilities.add {caps['add']}")
    if sc.get("readOnlyRootFilesystem") is not True:
        out.append(f"{where}: readOnlyRootFilesystem must be true")
    if sc.get("runAsUser") == 0:
        out.append(f"{where}: runAsUser 0")
    resources = container.get("resources") or {}
    for part in ("requests", "limits"):
        for res in ("cpu", "memory"):
            if res not in (resources.get(part) or {}):
                out.append(f"{where}: resources.{part}.{res} missing")
    if probes:
        for probe in ("readinessProbe", "livenessProbe"):
            if not container.get(probe):
                out.append(f"{where}: {probe} missing")
    return out


def pod_violations(where: str, spec: dict[str, Any], long_running: bool) -> list[str]:
    out = []
    psc = spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            out.append(f"{where}: {flag}")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            out.append(f"{where}: volume {volume['name']} of type {kinds}")
    containers = [*spec.get("initContainers", []), *spec["containers"]]
    for c in containers:
        cwhere = f"{where}/{c['name']}"
        csc = c.get("securityContext") or {}
        if not (psc.get("runAsNonRoot") or csc.get("runAsNonRoot")):
            out.append(f"{cwhere}: runAsNonRoot must be true (pod or container)")
        seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{cwhere}: seccompProfile must be RuntimeDefault")
        out += container_violations(cwhere, c, probes=long_running and c in spec["containers"])
    return out


def all_violations(objects: tuple[dict, ...]) -> list[str]:
    """Every restricted-PSS / resources / probes violation in a list of rendered objects."""
    out = []
    for obj in objects:
        for where, _, spec, long_running in pod_specs(obj):
            out += pod_violations(where, spec, long_running)
        for where, container in extra_containers(obj):
            sc = container.get("securityContext") or {}
            if not sc.get("runAsNonRoot"):
                out.append(f"{where}: runAsNonRoot must be true")
            if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                out.append(f"{where}: seccompProfile must be RuntimeDefault")
            out += container_violations(where, container, probes=False)
    return out


@pytest.fixture(scope="session")
def default_objects() -> tuple[dict, ...]:
    return render()


@pytest.fixture(scope="session")
def production_objects() -> tuple[dict, ...]:
    return render((PRODUCTION_VALUES,))


def by_kind(objects: tuple[dict, ...], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="session")
def lib() -> SimpleNamespace:
    """The helpers above, for the test modules (conftest is not importable under
    --import-mode=importlib)."""
    return SimpleNamespace(
        REPO=REPO,
        CHART=CHART,
        STACK=STACK,
        MANIFESTS=MANIFESTS,
        CRD_SCHEMAS=CRD_SCHEMAS,
        PRODUCTION_VALUES=PRODUCTION_VALUES,
        RELEASE=RELEASE,
        NAMESPACE=NAMESPACE,
        LABEL_KEYS=LABEL_KEYS,
        REQUIRED_SETS=REQUIRED_SETS,
        TRAINING_SOURCE=TRAINING_SOURCE,
        tool=tool,
        run=run,
        helm_template=helm_template,
        render=render,
        read_versions=read_versions,
        kubernetes_versions=kubernetes_versions,
        schema_errors=schema_errors,
        pod_specs=pod_specs,
        all_violations=all_violations,
        by_kind=by_kind,
        load_yaml=load_yaml,
    )
