"""Authentication and isolation of the rendered chart: Ray token auth on every Ray container, and
who may reach which port, decided by a small NetworkPolicy evaluator over the rendered policies.

The evaluator follows the Kubernetes semantics for ingress: a pod selected by no Ingress policy
accepts everything; a selected pod accepts a connection when any rule of any policy selecting it
matches both the source (a peer) and the port. ipBlock peers are treated as matching every
source, so the "denied" answers stay conservative.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

pytestmark = pytest.mark.chart

RAY_PORTS = (6379, 8265, 10001)
SERVE_PORT = 8000


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str]
    # Named container ports (a rule may name a port instead of numbering it).
    ports: dict[str, int] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)

    def ns_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace} | self.namespace_labels


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector against labels; {} matches everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def peer_matches(peer: dict[str, Any], policy_namespace: str, source: Pod) -> bool:
    if "ipBlock" in peer:
        return True
    if "namespaceSelector" in peer:
        ns_ok = selector_matches(peer["namespaceSelector"], source.ns_labels())
    else:
        ns_ok = source.namespace == policy_namespace
    return ns_ok and selector_matches(peer.get("podSelector"), source.labels)


def port_matches(rule_port: dict[str, Any], dest: Pod, port: int) -> bool:
    if rule_port.get("protocol", "TCP") != "TCP":
        return False
    if "port" not in rule_port:
        return True
    want = rule_port["port"]
    if isinstance(want, str):
        want = dest.ports.get(want)
        if want is None:
            return False
    return want <= port <= rule_port.get("endPort", want)


def ingress_allowed(policies: list[dict[str, Any]], source: Pod, dest: Pod, port: int) -> bool:
    """May `source` open a TCP connection to `dest` on `port` under these NetworkPolicies?"""
    selecting = [
        p
        for p in policies
        if p["metadata"].get("namespace", "default") == dest.namespace
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        and selector_matches(p["spec"].get("podSelector"), dest.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        ns = policy["metadata"].get("namespace", "default")
        for rule in policy["spec"].get("ingress") or []:
            peers, ports = rule.get("from"), rule.get("ports")
            if peers and not any(peer_matches(p, ns, source) for p in peers):
                continue
            if ports and not any(port_matches(p, dest, port) for p in ports):
                continue
            return True
    return False


# --- the evaluator on hand-written policies ---------------------------------------------------


def _policy(ns: str, selector: dict, ingress: list | None, types=("Ingress",)) -> dict:
    spec: dict[str, Any] = {"podSelector": selector, "policyTypes": list(types)}
    if ingress is not None:
        spec["ingress"] = ingress
    return {"metadata": {"name": "p", "namespace": ns}, "spec": spec}


DB = Pod("app", {"role": "db"}, ports={"sql": 5432})
WEB = Pod("app", {"role": "web"})
OTHER_NS_WEB = Pod("other", {"role": "web"}, namespace_labels={"team": "a"})


def test_evaluator_unselected_pod_accepts_everything() -> None:
    deny_web = _policy("app", {"matchLabels": {"role": "web"}}, [])
    assert ingress_allowed([deny_web], WEB, DB, 5432)
    assert not ingress_allowed([deny_web], DB, WEB, 80)


def test_evaluator_default_deny_then_allow_by_pod_and_port() -> None:
    deny = _policy("app", {}, None)
    allow = _policy(
        "app",
        {"matchLabels": {"role": "db"}},
        [{"from": [{"podSelector": {"matchLabels": {"role": "web"}}}], "ports": [{"port": "sql"}]}],
    )
    assert not ingress_allowed([deny], WEB, DB, 5432)
    assert ingress_allowed([deny, allow], WEB, DB, 5432)
    assert not ingress_allowed([deny, allow], WEB, DB, 5433)
    # A podSelector alone means the policy's namespace: the same labels elsewhere do not match.
    assert not ingress_allowed([deny, allow], OTHER_NS_WEB, DB, 5432)
    # Egress-only policies do not isolate ingress.
    assert ingress_allowed([_policy("app", {}, None, types=("Egress",))], WEB, DB, 1)


def test_evaluator_namespace_and_pod_selectors_are_anded_within_a_peer() -> None:
    both = {
        "namespaceSelector": {"matchLabels": {"team": "a"}},
        "podSelector": {"matchLabels": {"role": "api"}},
    }
    policy = _policy("app", {}, [{"from": [both]}])
    assert not ingress_allowed([policy], OTHER_NS_WEB, DB, 1)
    api = Pod("other", {"role": "api"}, namespace_labels={"team": "a"})
    assert ingress_allowed([policy], api, DB, 1)
    any_ns = _policy("app", {}, [{"from": [{"namespaceSelector": {}}], "ports": [{"port": 80}]}])
    assert ingress_allowed([any_ns], OTHER_NS_WEB, WEB, 80)
    assert not ingress_allowed([any_ns], OTHER_NS_WEB, WEB, 81)


def test_evaluator_match_expressions_end_port_and_ip_blocks() -> None:
    expr = {"matchExpressions": [{"key": "role", "operator": "NotIn", "values": ["web"]}]}
    policy = _policy(
        "app", {}, [{"from": [{"podSelector": expr}], "ports": [{"port": 10, "endPort": 20}]}]
    )
    assert ingress_allowed([policy], DB, WEB, 15)
    assert not ingress_allowed([policy], DB, WEB, 21)
    assert not ingress_allowed([policy], WEB, DB, 15)
    exists = {"matchExpressions": [{"key": "role", "operator": "Exists"}]}
    assert selector_matches(exists, {"role": "x"}) and not selector_matches(exists, {})
    blocked = _policy("app", {}, [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}])
    assert ingress_allowed([blocked], OTHER_NS_WEB, DB, 1)  # conservative
    udp = _policy("app", {}, [{"ports": [{"protocol": "UDP", "port": 53}]}])
    assert not ingress_allowed([udp], WEB, DB, 53)


# --- the rendered chart -----------------------------------------------------------------------


VALUE_SETS = {"default": (), "production": ("values-production.yaml",)}


def _pods(objects: tuple[dict, ...], lib) -> dict[str, Pod]:
    """Every pod the release creates, by workload (Ray pods as ray-head / ray-worker)."""
    out = {}
    for obj in objects:
        for _, meta, spec, _ in lib.pod_specs(obj):
            ports = {
                p["name"]: p["containerPort"]
                for c in spec["containers"]
                for p in c.get("ports", [])
                if "name" in p
            }
            name = meta["labels"].get("reco-platform/ray-node")
            name = f"ray-{name}" if name else obj["metadata"]["name"]
            out[name] = Pod(lib.NAMESPACE, dict(meta["labels"]), ports=ports)
    return out


@pytest.fixture(scope="module", params=list(VALUE_SETS))
def rendered(request, lib) -> tuple[list[dict], dict[str, Pod], str]:
    objects = lib.render(tuple(lib.CHART / f for f in VALUE_SETS[request.param]))
    return lib.by_kind(objects, "NetworkPolicy"), _pods(objects, lib), request.param


def test_rendered_pods_are_the_expected_workloads(rendered) -> None:
    _, pods, _ = rendered
    assert {"ray-head", "ray-worker", "reco-mlflow", "reco-feast", "reco-drift"} <= set(pods)
    assert "reco-retrain" in pods  # the scheduled retraining: the drift job's labels and rules
    assert "reco-pipeline-upload" in pods
    assert "reco-maintenance" in pods  # the retention CronJob: the release's default rules


def test_nothing_reaches_the_maintenance_job(rendered) -> None:
    policies, pods, _ = rendered
    job = pods["reco-maintenance"]
    for name, pod in pods.items():
        for port in (*RAY_PORTS, SERVE_PORT, 5000, 8080):
            assert not ingress_allowed(policies, pod, job, port), (name, port)
    assert not ingress_allowed(policies, Pod("default", {}), job, 8080)


@pytest.mark.parametrize("port", RAY_PORTS)
def test_no_release_pod_outside_the_ray_cluster_reaches_a_ray_port(rendered, port: int) -> None:
    policies, pods, _ = rendered
    outsiders = [n for n in pods if not n.startswith("ray-")]
    assert len(outsiders) == 6
    for name in outsiders:
        assert not ingress_allowed(policies, pods[name], pods["ray-head"], port), name
        assert not ingress_allowed(policies, pods[name], pods["ray-worker"], port), name


@pytest.mark.parametrize("port", RAY_PORTS)
def test_other_namespaces_do_not_reach_ray_ports_only_the_operator_reaches_the_dashboard(
    rendered, port: int
) -> None:
    policies, pods, _ = rendered
    head = pods["ray-head"]
    for ns in ("default", "ingress-nginx", "kubeflow", "monitoring"):
        stranger = Pod(ns, {"app": "anything"})
        assert not ingress_allowed(policies, stranger, head, port), ns
        # Even a pod elsewhere carrying the Ray pods' labels.
        assert not ingress_allowed(policies, Pod(ns, head.labels), head, port), ns
    operator = Pod("kuberay-system", {"app.kubernetes.io/name": "kuberay-operator"})
    assert ingress_allowed(policies, operator, head, port) is (port == 8265)


def test_ray_workers_and_head_reach_each_other(rendered) -> None:
    policies, pods, _ = rendered
    head, worker = pods["ray-head"], pods["ray-worker"]
    for port in (*RAY_PORTS, SERVE_PORT, 8080, 52365):
        assert ingress_allowed(policies, worker, head, port), port
        assert ingress_allowed(policies, head, worker, port), port


def test_serve_port_open_to_the_ingress_controller_only(rendered) -> None:
    policies, pods, _ = rendered
    worker = pods["ray-worker"]
    controller = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
    assert ingress_allowed(policies, controller, worker, SERVE_PORT)
    assert not ingress_allowed(policies, controller, worker, 8081)
    for ns in ("default", "kubeflow", "team-a"):
        assert not ingress_allowed(policies, Pod(ns, {}), worker, SERVE_PORT), ns
    for name in (
        "reco-mlflow",
        "reco-feast",
        "reco-drift",
        "reco-retrain",
        "reco-maintenance",
        "reco-pipeline-upload",
    ):
        assert not ingress_allowed(policies, pods[name], worker, SERVE_PORT), name


def test_serve_port_follows_serve_ingress_from(lib) -> None:
    objects = lib.render(
        sets=("networkPolicy.serveIngressFrom[0].namespaceSelector.matchLabels.team=edge",)
    )
    policies, pods = lib.by_kind(objects, "NetworkPolicy"), _pods(objects, lib)
    edge = Pod("gateway", {}, namespace_labels={"team": "edge"})
    assert ingress_allowed(policies, edge, pods["ray-worker"], SERVE_PORT)
    assert not ingress_allowed(policies, edge, pods["ray-head"], 10001)


def test_mlflow_reachable_from_kfp_pipeline_pods_only(rendered, lib) -> None:
    policies, pods, _ = rendered
    mlflow = pods["reco-mlflow"]
    step = Pod("kubeflow", {"pipelines.kubeflow.org/v2_component": "true"})
    assert ingress_allowed(policies, step, mlflow, 5000)
    assert not ingress_allowed(policies, Pod("kubeflow", {"app": "ml-pipeline-ui"}), mlflow, 5000)
    assert not ingress_allowed(policies, Pod("default", step.labels), mlflow, 5000)
    for name in ("ray-head", "ray-worker", "reco-drift"):
        assert ingress_allowed(policies, pods[name], mlflow, 5000), name
    closed = lib.render(sets=("networkPolicy.kfpToMlflow=false",))
    assert not ingress_allowed(lib.by_kind(closed, "NetworkPolicy"), step, mlflow, 5000)


def _ray_containers(obj: dict) -> list[tuple[str, dict]]:
    cluster = obj["spec"]["rayClusterConfig"]
    groups = [("head", cluster["headGroupSpec"])] + [
        (f"worker {g['groupName']}", g) for g in cluster["workerGroupSpecs"]
    ]
    out = [(f"{n}/{c['name']}", c) for n, g in groups for c in g["template"]["spec"]["containers"]]
    if cluster.get("enableInTreeAutoscaling"):
        out.append(("autoscaler", cluster["autoscalerOptions"]))
    return out


def test_ray_token_auth_on_every_ray_container(rendered, lib) -> None:
    _, _, value_set = rendered
    objects = lib.render(tuple(lib.CHART / f for f in VALUE_SETS[value_set]))
    (ray,) = lib.by_kind(objects, "RayService")
    (secret,) = [
        s for s in lib.by_kind(objects, "Secret") if s["metadata"]["name"] == "reco-ray-auth"
    ]
    assert len(secret["data"]["auth_token"]) >= 48  # base64 of 48 random characters
    cluster = ray["spec"]["rayClusterConfig"]
    assert cluster["authOptions"] == {"mode": "token", "secretName": "reco-ray-auth"}
    containers = _ray_containers(ray)
    assert len(containers) == 3
    for where, container in containers:
        env = {e["name"]: e for e in container.get("env", [])}
        assert env["RAY_AUTH_MODE"]["value"] == "token", where
        ref = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "reco-ray-auth", "key": "auth_token"}, where
    annotations = cluster["headGroupSpec"]["template"]["metadata"]["annotations"]
    assert secret["data"]["auth_token"] not in str(ray)  # only a hash reaches the pods
    assert len(annotations["checksum/ray-auth"]) == 64


def test_ray_auth_with_an_existing_secret_renders_no_secret(lib) -> None:
    objects = lib.render(sets=("rayService.auth.existingSecret=my-ray-token",))
    assert "reco-ray-auth" not in {s["metadata"]["name"] for s in lib.by_kind(objects, "Secret")}
    (ray,) = lib.by_kind(objects, "RayService")
    assert ray["spec"]["rayClusterConfig"]["authOptions"]["secretName"] == "my-ray-token"
    for where, container in _ray_containers(ray):
        env = {e["name"]: e for e in container["env"]}
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "my-ray-token", where


def test_ray_auth_can_be_switched_off(lib) -> None:
    objects = lib.render(sets=("rayService.auth.enabled=false",))
    assert "reco-ray-auth" not in {s["metadata"]["name"] for s in lib.by_kind(objects, "Secret")}
    (ray,) = lib.by_kind(objects, "RayService")
    assert "authOptions" not in ray["spec"]["rayClusterConfig"]
    for where, container in _ray_containers(ray):
        names = {e["name"] for e in container.get("env", [])}
        assert not names & {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN"}, where
