"""charts/reco-platform rendered by the real helm: lint, Kubernetes and CRD schemas, restricted
Pod Security, labels, secrets, RBAC, NetworkPolicies, images, the embedded Serve config and the
monitoring files, values.schema.json and the README's values table."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.chart

VALUE_SETS = {"default": (), "production": ("values-production.yaml",)}


def objects_for(lib, name: str) -> tuple[dict, ...]:
    return lib.render(tuple(lib.CHART / f for f in VALUE_SETS[name]))


def values_for(lib, name: str) -> dict[str, Any]:
    """values.yaml with the value set's files merged over it (as helm does for maps)."""
    values = lib.load_yaml(lib.CHART / "values.yaml")
    for f in VALUE_SETS[name]:
        deep_merge(values, lib.load_yaml(lib.CHART / f))
    return values


def deep_merge(dst: dict, src: dict) -> dict:
    """Maps merge key by key, anything else replaces: the chart's reco.deepMerge."""
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            deep_merge(dst[key], value)
        else:
            dst[key] = copy.deepcopy(value)
    return dst


def apply_serve_overrides(config: dict, overrides: dict) -> dict:
    """The chart's rule for rayService.serveConfigOverrides, in Python."""
    config = copy.deepcopy(config)
    for app in config["applications"]:
        for deployment in app.get("deployments", []):
            override = overrides.get(deployment["name"])
            if not override:
                continue
            if "autoscaling_config" in override:
                deployment.pop("num_replicas", None)
            if "num_replicas" in override:
                deployment.pop("autoscaling_config", None)
            deep_merge(deployment, override)
    return config


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_helm_lint_passes_strict(lib, value_set: str) -> None:
    args = [lib.tool("helm"), "lint", lib.CHART, "--strict"]
    for f in VALUE_SETS[value_set]:
        args += ["-f", lib.CHART / f]
    for item in lib.REQUIRED_SETS:
        args += ["--set", item]
    out = lib.run(args).stdout
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_object_validates_against_the_pinned_kubernetes_and_crd_schemas(
    lib, value_set: str
) -> None:
    objects = objects_for(lib, value_set)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "CronJob", "Job", "RayService", "ConfigMap", "NetworkPolicy"} <= kinds
    if value_set == "production":
        assert {"ServiceMonitor", "PrometheusRule", "PersistentVolumeClaim", "Role"} <= kinds
    for version in lib.kubernetes_versions():
        errors = [
            f"{o['kind']}/{o['metadata']['name']}: {e}"
            for o in objects
            for e in lib.schema_errors(o, version)
        ]
        assert not errors, f"against Kubernetes {version}:\n" + "\n".join(errors)


def test_schema_validation_catches_a_wrong_field(lib, default_objects) -> None:
    """The validator itself can fail: a typo'd field and a wrong type are both reported."""
    deployments = lib.by_kind(default_objects, "Deployment")
    (deployment,) = [o for o in deployments if o["metadata"]["name"] == "reco-mlflow"]
    broken = copy.deepcopy(deployment)
    broken["spec"]["replicas"] = "two"
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicey"] = "Always"
    errors = lib.schema_errors(broken, lib.kubernetes_versions()[0])
    assert any("replicas" in e for e in errors)
    assert any("imagePullPolicey" in e for e in errors)
    (rayservice,) = lib.by_kind(default_objects, "RayService")
    broken = copy.deepcopy(rayservice)
    broken["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["maxReplica"] = 3
    broken["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0][
        "securityContex"
    ] = {}
    errors = lib.schema_errors(broken, lib.kubernetes_versions()[1])
    assert any("maxReplica" in e for e in errors)
    assert any("headGroupSpec.template" in e and "securityContex" in e for e in errors)


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_pod_is_restricted_with_resources_and_probes(lib, value_set: str) -> None:
    objects = objects_for(lib, value_set)
    pods = [where for o in objects for where, *_ in lib.pod_specs(o)]
    assert len(pods) >= 6, pods  # mlflow, feast, drift, upload, ray head, ray worker
    assert not lib.all_violations(objects), "\n".join(lib.all_violations(objects))


def test_pss_checks_can_fail(lib, default_objects) -> None:
    deployments = lib.by_kind(default_objects, "Deployment")
    (deployment,) = [o for o in deployments if o["metadata"]["name"] == "reco-feast"]
    broken = copy.deepcopy(deployment)
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFilesystem"] = False
    del container["readinessProbe"]
    del container["resources"]["limits"]
    broken["spec"]["template"]["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}})
    problems = "\n".join(lib.all_violations((broken,)))
    for expected in ("readOnlyRootFilesystem", "readinessProbe", "limits.cpu", "hostPath"):
        assert expected in problems


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_labels_and_namespace_on_every_object_and_pod(lib, value_set: str) -> None:
    objects = objects_for(lib, value_set)
    chart = lib.load_yaml(lib.CHART / "Chart.yaml")
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        assert obj["metadata"].get("namespace") == lib.NAMESPACE, where
        label_sets = [obj["metadata"]["labels"]] + [m["labels"] for _, m, *_ in lib.pod_specs(obj)]
        for labels in label_sets:
            missing = [k for k in lib.LABEL_KEYS if k not in labels]
            assert not missing, f"{where}: missing labels {missing}"
            assert labels["app.kubernetes.io/instance"] == lib.RELEASE
            assert labels["app.kubernetes.io/part-of"] == "reco-platform"
            assert labels["app.kubernetes.io/version"] == chart["appVersion"]
            assert labels["helm.sh/chart"] == f"reco-platform-{chart['version']}"


def containers_of(lib, objects) -> list[tuple[str, dict]]:
    return [
        (f"{where}/{c['name']}", c)
        for o in objects
        for where, _, spec, _ in lib.pod_specs(o)
        for c in spec["containers"]
    ]


def test_secrets_are_referenced_never_inlined(lib, production_objects) -> None:
    values = values_for(lib, "production")
    # The Secrets the chart renders: the Ray auth token (test_isolation.py), the user-id key and
    # the admin token it generates (test_privacy.py).
    generated = ["reco-id-key", "reco-admin-token", "reco-ray-auth"]
    assert [s["metadata"]["name"] for s in lib.by_kind(production_objects, "Secret")] == generated
    allowed = {
        *generated,
        values["mlflow"]["backendStore"]["existingSecret"],
        values["mlflow"]["artifactStore"]["existingSecret"],
        values["mlflow"]["auth"]["existingSecret"],
        values["milvus"]["auth"]["existingSecret"],
        values["feast"]["onlineStore"]["existingSecret"],
    } - {""}
    referenced = set()
    for where, container in containers_of(lib, production_objects):
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                referenced.add(ref["name"])
            value = str(env.get("value", ""))
            assert not re.search(r"://[^/\s:@]+:[^@\s]+@", value), f"{where}: credentials in {env}"
    assert referenced == allowed
    settings = lib.by_kind(production_objects, "ConfigMap")
    for cm in settings:
        for key, value in cm.get("data", {}).items():
            assert "password" not in key.lower()
            assert not re.search(r"://[^/\s:@]+:[^@\s]+@", value), f"credentials in {key}"
    # Secret-backed settings are not also in the ConfigMap, where they would be shadowed.
    (cm,) = [c for c in settings if c["metadata"]["name"] == "reco-settings"]
    assert "RECO_FEAST_ONLINE_STORE" not in cm["data"]
    assert "RECO_MILVUS_TOKEN" not in cm["data"]


def test_one_settings_configmap_read_by_every_workload(lib, default_objects) -> None:
    from components.settings import Settings

    (cm,) = [c for c in lib.by_kind(default_objects, "ConfigMap")]
    assert cm["metadata"]["name"] == "reco-settings"
    data = cm["data"]
    required = {
        "RECO_MLFLOW_TRACKING_URI",
        "RECO_MILVUS_URI",
        "RECO_MILVUS_NUM_SHARDS",
        "RECO_FEAST_REPO",
        "RECO_FEAST_ONLINE_STORE",
        "RECO_KFP_HOST",
        "RECO_RAY_ADDRESS",
        "RECO_STATE_DIR",
        "RECO_DATA_DIR",
    }
    assert required <= set(data)
    fields = {f"RECO_{name.upper()}" for name in Settings.model_fields}
    assert set(data) <= fields, f"not settings fields: {set(data) - fields}"
    assert data["RECO_MLFLOW_TRACKING_URI"] == "http://reco-mlflow:5000"
    assert data["RECO_MILVUS_URI"] == "http://reco-milvus:19530"
    assert data["RECO_FEAST_ONLINE_STORE"] == "redis://reco-valkey:6379"
    # The values parse as Settings would read them from the environment.
    parsed = Settings(**{k.removeprefix("RECO_").lower(): v for k, v in data.items()})
    assert parsed.milvus_num_shards == 2 and parsed.kfp_host == data["RECO_KFP_HOST"]
    for where, container in containers_of(lib, default_objects):
        refs = [e.get("configMapRef", {}).get("name") for e in container.get("envFrom", [])]
        assert "reco-settings" in refs, f"{where} does not read the settings ConfigMap"


def test_milvus_shards_and_index_come_from_values(lib) -> None:
    objects = lib.render(sets=("milvus.numShards=8", "milvus.indexType=DISKANN"))
    (cm,) = lib.by_kind(objects, "ConfigMap")
    assert cm["data"]["RECO_MILVUS_NUM_SHARDS"] == "8"
    assert cm["data"]["RECO_MILVUS_INDEX_TYPE"] == "DISKANN"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_rbac_is_least_privilege(lib, value_set: str) -> None:
    objects = objects_for(lib, value_set)
    assert not lib.by_kind(objects, "ClusterRole")
    assert not lib.by_kind(objects, "ClusterRoleBinding")
    (role,) = lib.by_kind(objects, "Role")
    rules = {
        (tuple(r["apiGroups"]), tuple(r["resources"]), tuple(sorted(r["verbs"])))
        for r in role["rules"]
    }
    assert rules == {
        (("",), ("pods",), ("get", "list", "patch", "watch")),
        (("",), ("pods/resize",), ("patch",)),
        (("ray.io",), ("rayclusters",), ("get", "patch")),
    }
    (binding,) = lib.by_kind(objects, "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert [s["name"] for s in binding["subjects"]] == ["reco-ray-head"]
    accounts = {sa["metadata"]["name"]: sa for sa in lib.by_kind(objects, "ServiceAccount")}
    assert set(accounts) == {
        "reco-mlflow",
        "reco-feast",
        "reco-ray-head",
        "reco-ray-worker",
        "reco-drift",
        "reco-maintenance",
        "reco-pipeline-upload",
    }
    for name, sa in accounts.items():
        assert sa["automountServiceAccountToken"] is (name == "reco-ray-head"), name
    for obj in objects:
        for where, _, spec, _ in lib.pod_specs(obj):
            sa = spec["serviceAccountName"]
            assert sa in accounts, where
            assert spec["automountServiceAccountToken"] is (sa == "reco-ray-head"), where


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_network_policies_cover_every_pod(lib, value_set: str) -> None:
    objects = objects_for(lib, value_set)
    policies = {p["metadata"]["name"]: p for p in lib.by_kind(objects, "NetworkPolicy")}
    deny = policies["reco-default-deny"]["spec"]
    assert "ingress" not in deny and "Ingress" in deny["policyTypes"]
    selector = deny["podSelector"]["matchLabels"]
    for obj in objects:
        for where, meta, *_ in lib.pod_specs(obj):
            assert selector.items() <= meta["labels"].items(), f"{where} escapes default deny"
    for component in ("serving", "mlflow", "feast"):
        (allow,) = [
            p
            for p in policies.values()
            if p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component")
            == component
        ]
        assert allow["spec"]["ingress"], component
    serving = policies["reco-serving"]["spec"]["ingress"]
    assert any({"protocol": "TCP", "port": 8000} in r.get("ports", []) for r in serving)
    if value_set == "production":
        egress = policies["reco-egress"]["spec"]
        assert egress["policyTypes"] == ["Egress"]
        assert {"protocol": "UDP", "port": 53} in egress["egress"][0]["ports"]
        assert "Egress" in deny["policyTypes"]
    else:
        assert "reco-egress" not in policies


def test_images_are_the_dockerfile_targets_with_tag_or_digest(lib) -> None:
    values = lib.load_yaml(lib.CHART / "values.yaml")
    chart = lib.load_yaml(lib.CHART / "Chart.yaml")
    registry = values["image"]["registry"]
    expected = {
        f"{registry}/{t['repository']}:{chart['appVersion']}"
        for t in values["image"]["targets"].values()
    }
    images = {c["image"] for _, c in containers_of(lib, lib.render())}
    assert images == expected
    digest = "sha256:" + "a" * 64
    sets = tuple(f"image.targets.{t}.digest={digest}" for t in values["image"]["targets"])
    pinned = {c["image"] for _, c in containers_of(lib, lib.render(sets=sets))}
    assert pinned == {i.rsplit(":", 1)[0] + "@" + digest for i in expected}


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_rayservice_carries_the_serve_config_that_serving_uses(lib, value_set: str) -> None:
    from ray.serve.schema import ServeDeploySchema

    (rayservice,) = lib.by_kind(objects_for(lib, value_set), "RayService")
    embedded = yaml.safe_load(rayservice["spec"]["serveConfigV2"])
    local = lib.load_yaml(lib.REPO / "serving" / "serve_config.yaml")
    overrides = values_for(lib, value_set)["rayService"]["serveConfigOverrides"]
    assert embedded == apply_serve_overrides(local, overrides)
    if value_set == "default":
        assert embedded == local
    else:
        assert overrides and embedded != local
    ServeDeploySchema.model_validate(embedded)
    host = embedded.get("http_options", {}).get("host", "0.0.0.0")
    assert host == "0.0.0.0", "serve_config.yaml binds Serve to {host}: unreachable in a pod"
    cluster = rayservice["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["rayVersion"] == _pinned_ray_version(lib)


def _pinned_ray_version(lib) -> str:
    text = (lib.REPO / "pyproject.toml").read_text()
    match = re.search(r'"ray\[serve\]==([0-9.]+)"', text)
    assert match, "ray[serve] pin not found in pyproject.toml"
    return match.group(1)


def test_serve_overrides_follow_the_documented_rule(lib) -> None:
    objects = lib.render(
        sets=(
            "rayService.serveConfigOverrides.Ingress.autoscaling_config.min_replicas=0",
            "rayService.serveConfigOverrides.Ingress.autoscaling_config.max_replicas=3",
            "rayService.serveConfigOverrides.Retrieval.num_replicas=5",
            "rayService.serveConfigOverrides.Ranking.autoscaling_config.max_replicas=9",
        )
    )
    (rayservice,) = lib.by_kind(objects, "RayService")
    deployments = {
        d["name"]: d
        for app in yaml.safe_load(rayservice["spec"]["serveConfigV2"])["applications"]
        for d in app["deployments"]
    }
    local = {
        d["name"]: d
        for app in lib.load_yaml(lib.REPO / "serving" / "serve_config.yaml")["applications"]
        for d in app["deployments"]
    }
    assert "num_replicas" not in deployments["Ingress"]
    assert deployments["Ingress"]["autoscaling_config"]["min_replicas"] == 0  # zero kept
    assert "autoscaling_config" not in deployments["Retrieval"]
    assert deployments["Retrieval"]["num_replicas"] == 5
    ranking = deployments["Ranking"]["autoscaling_config"]
    assert ranking["max_replicas"] == 9
    assert ranking["min_replicas"] == local["Ranking"]["autoscaling_config"]["min_replicas"]


def test_serve_access_log_is_off_unless_asked_for(lib) -> None:
    def access_logs(*sets: str) -> list[bool]:
        (rayservice,) = lib.by_kind(lib.render(sets=sets), "RayService")
        applications = yaml.safe_load(rayservice["spec"]["serveConfigV2"])["applications"]
        return [app["logging_config"]["enable_access_log"] for app in applications]

    assert access_logs() == [False]
    assert access_logs("rayService.accessLog=true") == [True]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_ray_containers_start_with_the_serve_flags_local_start_up_uses(lib, value_set: str) -> None:
    from serving.config import RAY_SERVE_ENV

    (rayservice,) = lib.by_kind(objects_for(lib, value_set), "RayService")
    cluster = rayservice["spec"]["rayClusterConfig"]
    templates = [cluster["headGroupSpec"]["template"]] + [
        group["template"] for group in cluster["workerGroupSpecs"]
    ]
    for template in templates:
        (container,) = template["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert {name: env.get(name) for name in RAY_SERVE_ENV} == RAY_SERVE_ENV, container["name"]
    (turned_off,) = lib.by_kind(
        lib.render(sets=("rayService.serveEnv.RAY_SERVE_USE_GRPC_BY_DEFAULT=0",)), "RayService"
    )
    (head,) = turned_off["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"][
        "containers"
    ]
    assert {"name": "RAY_SERVE_USE_GRPC_BY_DEFAULT", "value": "0"} in head["env"]


def test_chart_files_are_copies_of_their_originals(lib) -> None:
    for original in (
        "serving/serve_config.yaml",
        "monitoring/prometheus_rules.yaml",
        "monitoring/grafana_dashboard.json",
    ):
        copy_path = lib.CHART / "files" / original.split("/")[-1]
        assert copy_path.read_bytes() == (lib.REPO / original).read_bytes(), (
            f"{copy_path.relative_to(lib.REPO)} differs from {original}: "
            "run scripts/sync_chart_files.sh"
        )


def test_monitoring_objects_reuse_the_monitoring_files(lib, production_objects) -> None:
    (rule,) = lib.by_kind(production_objects, "PrometheusRule")
    assert rule["spec"] == lib.load_yaml(lib.REPO / "monitoring" / "prometheus_rules.yaml")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    config_maps = lib.by_kind(production_objects, "ConfigMap")
    (dashboard,) = [c for c in config_maps if "grafana" in c["metadata"]["name"]]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    (payload,) = dashboard["data"].values()
    original = (lib.REPO / "monitoring" / "grafana_dashboard.json").read_text()
    assert json.loads(payload) == json.loads(original)
    (monitor,) = lib.by_kind(production_objects, "ServiceMonitor")
    services = [
        s
        for s in lib.by_kind(production_objects, "Service")
        if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
    ]
    assert [s["metadata"]["name"] for s in services] == ["reco-ray-metrics"]
    ports = {p["name"] for p in services[0]["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports


def test_drift_cronjob_and_upload_job_run_the_cli_against_the_kfp_api(lib, default_objects) -> None:
    crons = {c["metadata"]["name"]: c for c in lib.by_kind(default_objects, "CronJob")}
    assert set(crons) == {"reco-drift", "reco-retrain", "reco-maintenance"}
    crons.pop("reco-maintenance")  # test_maintenance_cronjob_...
    values = lib.load_yaml(lib.CHART / "values.yaml")
    commands = {"reco-drift": ["monitor", "check"], "reco-retrain": ["monitor", "retrain"]}
    for name, cron in crons.items():
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
        (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        assert container["command"] + container["args"] == ["reco", *commands[name]]
        assert container["image"].split("/")[-1].startswith("reco-monitor:")
        # both retrain on the named data, never on the pipeline's synthetic default
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["RECO_TRAINING_SOURCE"] == lib.TRAINING_SOURCE
    assert crons["reco-retrain"]["spec"]["schedule"] == values["drift"]["retrain"]["schedule"]
    (job,) = lib.by_kind(default_objects, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] + container["args"][:2] == ["reco", "pipeline", "upload"]
    assert "--version=0.1.0" in container["args"]
    (cm,) = lib.by_kind(default_objects, "ConfigMap")
    assert cm["data"]["RECO_KFP_HOST"] == values["kfp"]["host"]


def test_maintenance_cronjob_compacts_daily_with_both_retention_windows(lib, default_objects):
    crons = {c["metadata"]["name"]: c for c in lib.by_kind(default_objects, "CronJob")}
    cron, drift = crons["reco-maintenance"], crons["reco-drift"]
    values = lib.load_yaml(lib.CHART / "values.yaml")["maintenance"]
    assert cron["spec"]["schedule"] == values["schedule"]
    assert cron["spec"]["schedule"].split()[2:] == ["*", "*", "*"]  # daily
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    spec = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    drift_spec = drift["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    (drift_container,) = drift_spec["containers"]
    assert container["command"] + container["args"] == ["reco", "maintenance", "compact"]
    assert container["image"] == drift_container["image"]  # the monitor image: the reco CLI
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RECO_EVENT_RETENTION_DAYS"] == str(values["eventRetentionDays"])
    assert env["RECO_PREDICTION_RETENTION_DAYS"] == str(values["predictionRetentionDays"])
    # the drift job's rules: no token, same volumes and mounts, same security context
    assert spec["serviceAccountName"] == "reco-maintenance"
    assert spec["automountServiceAccountToken"] is False
    assert spec["volumes"] == drift_spec["volumes"]
    assert container["volumeMounts"] == drift_container["volumeMounts"]
    assert container["envFrom"] == drift_container["envFrom"]
    assert spec["securityContext"] == drift_spec["securityContext"]
    assert container["securityContext"] == drift_container["securityContext"]
    changed = lib.render(
        sets=("maintenance.schedule=@hourly", "maintenance.predictionRetentionDays=30")
    )
    (cron,) = [c for c in lib.by_kind(changed, "CronJob") if c["metadata"]["name"].endswith("ance")]
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert cron["spec"]["schedule"] == "@hourly"
    assert {"name": "RECO_PREDICTION_RETENTION_DAYS", "value": "30"} in container["env"]


@pytest.mark.parametrize("source", [None, "", "   "])
def test_the_chart_refuses_to_render_without_a_training_source(lib, source: str | None) -> None:
    sets = () if source is None else (f"drift.trainingSource={source}",)
    proc = lib.helm_template(sets=sets, required=())
    assert proc.returncode != 0
    assert "drift.trainingSource is required" in proc.stderr
    assert "'synthetic' only to train on generated data on purpose" in proc.stderr
    # with neither CronJob there is nothing to retrain, and nothing to name
    off = lib.helm_template(sets=("drift.enabled=false",), required=())
    assert off.returncode == 0, off.stderr


def test_the_scheduled_retraining_can_be_switched_off_and_named_by_its_source(lib) -> None:
    objects = lib.render(
        sets=(
            "drift.retrain.enabled=false",
            "drift.trainingSource=synthetic",
            "maintenance.enabled=false",
        )
    )
    (cron,) = lib.by_kind(objects, "CronJob")
    assert cron["metadata"]["name"] == "reco-drift"
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RECO_TRAINING_SOURCE"] == "synthetic"  # allowed, when asked for by name


def test_components_can_be_switched_off(lib) -> None:
    objects = lib.render(
        sets=(
            "mlflow.enabled=false",
            "mlflow.externalUri=http://mlflow.shared:5000",
            "mlflow.auth.enabled=false",
            "feast.enabled=false",
            "rayService.enabled=false",
            "drift.enabled=false",
            "maintenance.enabled=false",
            "pipelineUpload.enabled=false",
        )
    )
    assert {o["kind"] for o in objects} == {"ConfigMap", "NetworkPolicy"}
    (cm,) = lib.by_kind(objects, "ConfigMap")
    assert cm["data"]["RECO_MLFLOW_TRACKING_URI"] == "http://mlflow.shared:5000"
    assert "RECO_RAY_ADDRESS" not in cm["data"]


BAD_VALUES = [
    ("rayService.worker.replicas=-1", "/rayService/worker/replicas"),
    ("mlflow.replicas=-2", "/mlflow/replicas"),
    ("mlflow.replicas=two", "got string, want integer"),
    ("milvus.indexType=BTREE", "value must be one of"),
    ("milvus.numShards=0", "/milvus/numShards"),
    ("image.tag=latest", "/image/tag"),
    ("mlflow.backendStore.existingSecret=", "/mlflow/backendStore/existingSecret"),
    ("mlflow.enabled=false", "/mlflow/externalUri"),
    ("feast.onlineStore.uri=http://redis:6379", "/feast/onlineStore/uri"),
    ("unknownKey=1", "additional properties 'unknownKey' not allowed"),
    ("settings.extraEnv.FOO=bar", "does not match pattern '^RECO_"),
    ("drift.retrain.schedule=weekly", "/drift/retrain/schedule"),
    ("maintenance.schedule=daily", "/maintenance/schedule"),
    ("maintenance.predictionRetentionDays=0", "/maintenance/predictionRetentionDays"),
    ("rayService.serveConfigOverrides.Missing.num_replicas=2", "no deployment of that name"),
    ("rayService.worker.minReplicas=9", "minReplicas (9) <= replicas (1) <= maxReplicas (4)"),
]


@pytest.mark.parametrize(("setting", "message"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_bad_values_make_helm_fail_with_a_message(lib, setting: str, message: str) -> None:
    proc = lib.helm_template(sets=(setting,))
    assert proc.returncode != 0, f"helm accepted {setting}"
    assert message in proc.stderr, proc.stderr


def _leaves(values: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_readme_values_table_matches_values_yaml(lib) -> None:
    rows = re.findall(
        r"^\| `([^`]+)` \| `(.*)` \| (.+) \|$",
        (lib.CHART / "README.md").read_text(),
        flags=re.MULTILINE,
    )
    table = {key: json.loads(default) for key, default, _ in rows}
    leaves = _leaves(lib.load_yaml(lib.CHART / "values.yaml"))
    assert sorted(set(leaves) - set(table)) == [], "values missing from the README table"
    assert sorted(set(table) - set(leaves)) == [], "README rows for keys values.yaml lacks"
    wrong = {k: (table[k], v) for k, v in leaves.items() if table[k] != v}
    assert not wrong, f"README default differs from values.yaml: {wrong}"
