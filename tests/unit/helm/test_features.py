"""The chart's options, each asserted on what Helm 4 and Helm 3 really render: the Strimzi API choice,
probes, gRPC balancing, Ingress and HTTPRoute for the console and Open311, secret references, extra
env/volumes, service-account annotations, pod labels and priority classes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import APIS_V1, APIS_V1BETA2, FEATURES, OTHER_APIS, STRIMZI_ONLY, helm_template

pytestmark = pytest.mark.timeout(1200)

Manifest = list[dict[str, Any]]
Render = Callable[..., Manifest]
GRPC_SERVICES = ("incidents", "dispatch", "sensors", "notifications")


def of_kind(manifest: Manifest, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifest if doc["kind"] == kind]


def by_name(manifest: Manifest, kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in of_kind(manifest, kind)}


def pod_templates(manifest: Manifest) -> dict[str, dict[str, Any]]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]
        for d in manifest
        if d["kind"] in ("Deployment", "Job")
    }


def container(manifest: Manifest, deployment: str) -> dict[str, Any]:
    spec = by_name(manifest, "Deployment")[deployment]["spec"]["template"]["spec"]
    return dict(spec["containers"][0])


def env_of(manifest: Manifest, deployment: str) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(manifest, deployment)["env"]}


# --- Strimzi API ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("apis", "expected"),
    [
        (APIS_V1, "kafka.strimzi.io/v1"),  # Strimzi 1.x serves only v1
        (APIS_V1BETA2, "kafka.strimzi.io/v1beta2"),  # Strimzi 0.4x
        (("kafka.strimzi.io/v1", "kafka.strimzi.io/v1beta2"), "kafka.strimzi.io/v1"),  # 0.49-0.51: v1 preferred
        (("kafka.strimzi.io/v1/KafkaTopic", "kafka.strimzi.io/v1/KafkaUser"), "kafka.strimzi.io/v1"),
    ],
    ids=["strimzi-1.x", "strimzi-0.4x", "strimzi-0.5x-both", "group-version-kind"],
)
def test_strimzi_api_is_chosen_from_what_the_cluster_serves(
    render: Render, apis: tuple[str, ...], expected: str
) -> None:
    manifest = render(apis=apis)
    crs = of_kind(manifest, "KafkaTopic") + of_kind(manifest, "KafkaUser")
    assert len(of_kind(manifest, "KafkaTopic")) == 14 and len(of_kind(manifest, "KafkaUser")) == 9  # 7+DLQs; per role
    assert {cr["apiVersion"] for cr in crs} == {expected}
    assert not [j for j in of_kind(manifest, "Job") if j["metadata"]["name"] == "cityops-topics"]


@pytest.mark.parametrize("forced", ["kafka.strimzi.io/v1", "kafka.strimzi.io/v1beta2"])
def test_strimzi_api_can_be_forced_for_renders_without_a_cluster(render: Render, forced: str) -> None:
    manifest = render(apis=(), set_values=(f"kafka.strimzi.apiVersion={forced}",))
    assert {cr["apiVersion"] for cr in of_kind(manifest, "KafkaTopic") + of_kind(manifest, "KafkaUser")} == {forced}


@pytest.mark.parametrize(
    "apis", [(), ("kafka.strimzi.io/v1alpha1",), OTHER_APIS], ids=["nothing", "unknown-version", "no-strimzi"]
)
def test_strimzi_requested_but_not_served_fails_clearly(
    render_failure: Callable[..., str], apis: tuple[str, ...]
) -> None:
    error = render_failure(apis=apis)
    assert "Strimzi is requested" in error and "kafka.strimzi.io/v1" in error
    assert "kafka.externalKafka.enabled=true" in error  # the message says how to get out


def test_without_strimzi_topics_or_users_nothing_is_required(render: Render) -> None:
    manifest = render(apis=(), set_values=("kafka.strimzi.topics=false", "kafka.strimzi.users=false"))
    assert not of_kind(manifest, "KafkaTopic") and not of_kind(manifest, "KafkaUser")
    assert "cityops-topics" in by_name(manifest, "Job")  # `cityops topics apply` makes the topics


# --- probes --------------------------------------------------------------------------------------


def test_liveness_is_the_process_and_readiness_its_dependencies(render: Render) -> None:
    manifest = render()
    for svc in GRPC_SERVICES:
        worker = container(manifest, f"cityops-{svc}-worker")
        # The broker is part of /readyz only: a Kafka outage must not restart every worker.
        assert worker["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}
        assert worker["startupProbe"]["httpGet"]["path"] == "/livez"
        assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    gateway = container(manifest, "cityops-gateway-api")
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    for name in by_name(manifest, "Deployment"):
        probes = container(manifest, name)
        assert probes["livenessProbe"]["failureThreshold"] * probes["livenessProbe"]["periodSeconds"] >= 30, name
        assert probes["livenessProbe"] != probes["readinessProbe"], name


def test_probe_timings_are_values(render: Render) -> None:
    manifest = render(set_values=("probes.liveness.periodSeconds=20", "probes.readiness.failureThreshold=4"))
    worker = container(manifest, "cityops-sensors-worker")
    assert worker["livenessProbe"]["periodSeconds"] == 20
    assert container(manifest, "cityops-incidents-api")["readinessProbe"]["failureThreshold"] == 4


# --- gRPC load spreading -------------------------------------------------------------------------


def test_gateway_balances_over_headless_services_and_servers_recycle_connections(render: Render) -> None:
    manifest = render()
    services = by_name(manifest, "Service")
    config = by_name(manifest, "ConfigMap")["cityops-config"]["data"]
    deployments = by_name(manifest, "Deployment")
    for svc, port in zip(GRPC_SERVICES, (50051, 50052, 50053, 50054), strict=True):
        headless = services[f"cityops-{svc}-api-headless"]["spec"]
        assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is False
        pod_labels = deployments[f"cityops-{svc}-api"]["spec"]["template"]["metadata"]["labels"]
        assert all(pod_labels[k] == v for k, v in headless["selector"].items())
        assert config[f"CITYOPS_{svc.upper()}_ADDR"] == f"dns:///cityops-{svc}-api-headless.cityops.svc:{port}"
    assert config["CITYOPS_GRPC_LB_POLICY"] == "round_robin"
    assert config["CITYOPS_GRPC_MAX_CONNECTION_AGE_SECONDS"] == "300"
    assert config["CITYOPS_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS"] == "600"


def test_client_side_balancing_can_be_turned_off(render: Render) -> None:
    manifest = render(set_values=("grpc.clientSideBalancing=false", "grpc.maxConnectionAgeSeconds=0"))
    config = by_name(manifest, "ConfigMap")["cityops-config"]["data"]
    assert config["CITYOPS_INCIDENTS_ADDR"] == "cityops-incidents-api:50051"
    assert config["CITYOPS_GRPC_LB_POLICY"] == "pick_first"
    assert "CITYOPS_GRPC_MAX_CONNECTION_AGE_SECONDS" not in config
    assert not [s for s in of_kind(manifest, "Service") if s["metadata"]["name"].endswith("-headless")]


# --- Ingress and HTTPRoute -----------------------------------------------------------------------


def test_ingress_serves_console_and_open311_with_sse_safe_nginx_annotations(render: Render) -> None:
    ingress = by_name(render(files=(FEATURES,)), "Ingress")["cityops-gateway-api"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    assert annotations["cert-manager.io/cluster-issuer"] == "internal-ca"  # the user's, merged in
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    rules = {r["host"]: r["http"]["paths"] for r in spec["rules"]}
    assert [p["path"] for p in rules["ioc.example.internal"]] == ["/"]
    assert [p["path"] for p in rules["open311.example.gov.vn"]] == ["/open311"]
    for paths in rules.values():
        assert all(p["backend"]["service"] == {"name": "cityops-gateway-api", "port": {"name": "http"}} for p in paths)
    assert spec["tls"][0]["hosts"] == ["ioc.example.internal", "open311.example.gov.vn"]


def test_ingress_annotations_are_the_users_alone_without_nginx(render: Render) -> None:
    manifest = render(set_values=("ingress.sse.nginx=false", "ingress.className=traefik"))
    ingress = by_name(manifest, "Ingress")["cityops-gateway-api"]
    assert not any(k.startswith("nginx.") for k in ingress["metadata"].get("annotations", {}))
    assert not of_kind(render("staging"), "Ingress")  # off unless asked


def test_http_route_sends_console_and_open311_to_the_gateway_without_a_request_timeout(render: Render) -> None:
    route = by_name(render(files=(FEATURES,)), "HTTPRoute")["cityops-gateway-api"]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    spec = route["spec"]
    assert spec["parentRefs"] == [{"name": "public-gateway", "namespace": "gateway-system", "sectionName": "https"}]
    assert spec["hostnames"] == ["ioc.example.internal", "open311.example.gov.vn"]
    (rule,) = spec["rules"]
    assert [m["path"] for m in rule["matches"]] == [
        {"type": "PathPrefix", "value": "/"},
        {"type": "PathPrefix", "value": "/open311"},
    ]
    assert rule["backendRefs"] == [{"name": "cityops-gateway-api", "port": 8080}]
    assert rule["timeouts"] == {"request": "0s"}  # SSE streams are not cut


def test_http_route_without_gateway_api_fails_clearly(render_failure: Callable[..., str]) -> None:
    error = render_failure(apis=STRIMZI_ONLY, set_values=("httpRoute.enabled=true",))
    assert "does not serve gateway.networking.k8s.io/v1" in error


# --- secrets, env, volumes, accounts, labels, priority ------------------------------------------


def test_notification_channel_credentials_come_from_existing_secrets(render: Render) -> None:
    manifest = render(files=(FEATURES,))
    for kind in ("api", "worker"):
        env = env_of(manifest, f"cityops-notifications-{kind}")
        assert env["CITYOPS_SMTP_USER"]["valueFrom"]["secretKeyRef"] == {"name": "cityops-smtp", "key": "username"}
        assert env["CITYOPS_SMTP_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "cityops-smtp", "key": "password"}
        assert env["CITYOPS_SMS_GATEWAY_API_KEY"]["valueFrom"]["secretKeyRef"] == {
            "name": "cityops-sms",
            "key": "api-key",
        }
        assert env["CITYOPS_NOTIFY_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "cityops-notify-key"
        assert env["CITYOPS_SMTP_HOST"]["value"] == "smtp.example.internal"
        assert env["CITYOPS_SMS_GATEWAY_URL"]["value"] == "https://sms.example.internal/v1/sms"
        assert all("value" not in env[n] for n in ("CITYOPS_SMTP_PASSWORD", "CITYOPS_SMS_GATEWAY_API_KEY"))
    # Other services never see them.
    assert "CITYOPS_SMTP_PASSWORD" not in env_of(manifest, "cityops-incidents-worker")
    assert "CITYOPS_SMTP_PASSWORD" not in env_of(render(), "cityops-notifications-worker")  # unset: not wired


@pytest.mark.parametrize(
    ("setting", "env_name", "expected"),
    [
        ("auth.jwt.existingSecret=ioc-jwt", "CITYOPS_JWT_SECRET", {"name": "ioc-jwt", "key": "jwt-secret"}),
        ("database.existingSecret=ioc-pg", "CITYOPS_DATABASE_URL", {"name": "ioc-pg", "key": "uri"}),
    ],
)
def test_jwt_and_postgres_come_from_the_secrets_named_in_values(
    render: Render, setting: str, env_name: str, expected: dict[str, str]
) -> None:
    env = env_of(render(set_values=(setting,)), "cityops-incidents-api")
    assert env[env_name]["valueFrom"]["secretKeyRef"] == expected


def test_kafka_credentials_come_from_an_existing_secret_for_external_kafka(render: Render) -> None:
    manifest = render(set_values=("kafka.externalKafka.enabled=true", "kafka.sasl.existingSecret=msk-login"))
    env = env_of(manifest, "cityops-sensors-worker")
    assert env["CITYOPS_KAFKA_SASL_USERNAME"]["valueFrom"]["secretKeyRef"] == {"name": "msk-login", "key": "username"}
    assert env["CITYOPS_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "msk-login", "key": "password"}


def test_extra_env_from_and_volumes_reach_every_app_and_the_components_own(render: Render) -> None:
    manifest = render(files=(FEATURES,))
    incidents = container(manifest, "cityops-incidents-api")
    dispatch = container(manifest, "cityops-dispatch-worker")
    assert incidents["envFrom"][0] == {"configMapRef": {"name": "cityops-config"}}
    assert {"secretRef": {"name": "cityops-extra-env"}} in incidents["envFrom"]
    assert {"configMapRef": {"name": "incidents-tuning", "optional": True}} in incidents["envFrom"]
    assert {"secretRef": {"name": "cityops-extra-env"}} in dispatch["envFrom"]
    assert {"configMapRef": {"name": "incidents-tuning", "optional": True}} not in dispatch["envFrom"]
    assert {"name": "CITYOPS_DB_POOL_MAX", "value": "20"} in incidents["env"]
    mounts = {m["mountPath"]: m for m in incidents["volumeMounts"]}
    assert mounts["/etc/ssl/corp"]["readOnly"] is True and "/mnt/secrets" in mounts
    assert "/mnt/secrets" not in {m["mountPath"] for m in dispatch["volumeMounts"]}
    pod_spec = by_name(manifest, "Deployment")["cityops-incidents-api"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    assert volumes["corp-ca"]["configMap"] == {"name": "corp-ca-bundle"}
    assert volumes["secrets-store"]["csi"]["driver"] == "secrets-store.csi.k8s.io"
    assert {"tmp", "kafka-ca"} <= set(volumes)  # the chart's own volumes stay


def test_service_accounts_carry_workload_identity_annotations(render: Render) -> None:
    accounts = by_name(render(files=(FEATURES,)), "ServiceAccount")
    role = "eks.amazonaws.com/role-arn"
    assert accounts["cityops-incidents-api"]["metadata"]["annotations"][role].endswith(":role/cityops-incidents")
    for name in ("cityops-dispatch-worker", "cityops-gateway-api", "cityops-migrations"):
        assert accounts[name]["metadata"]["annotations"][role].endswith(":role/cityops"), name
    assert accounts["cityops-migrations"]["metadata"]["annotations"]["helm.sh/hook"]  # still a hook
    assert "annotations" not in by_name(render(), "ServiceAccount")["cityops-dispatch-worker"]["metadata"]


def test_pod_labels_annotations_and_priority_class_on_every_pod(render: Render) -> None:
    manifest = render(files=(FEATURES,))
    templates = pod_templates(manifest)
    assert "Job/cityops-migrations" in templates and len(templates) == 10
    for name, template in templates.items():
        assert template["metadata"]["labels"]["team"] == "ioc-platform", name
        assert template["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "true", name
        expected = "cityops-critical" if name == "Deployment/cityops-incidents-api" else "cityops-standard"
        assert template["spec"]["priorityClassName"] == expected, name
    incidents = templates["Deployment/cityops-incidents-api"]["metadata"]
    assert incidents["labels"]["tier"] == "api" and incidents["annotations"]["example.com/scrape"] == "yes"
    assert "tier" not in templates["Deployment/cityops-dispatch-api"]["metadata"]["labels"]
    assert all("priorityClassName" not in t["spec"] for t in pod_templates(render()).values())


def test_pod_labels_never_override_the_selector_labels(render: Render) -> None:
    manifest = render(set_values=("pod.labels.app\\.kubernetes\\.io/component=hijacked",))
    for deploy in of_kind(manifest, "Deployment"):
        labels = deploy["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] != "hijacked"
        assert all(labels[k] == v for k, v in deploy["spec"]["selector"]["matchLabels"].items())


# --- Helm 4 and Helm 3 agree ---------------------------------------------------------------------


@pytest.mark.parametrize("values", ["production", "staging"])
def test_helm_4_and_helm_3_render_the_same_objects(helms: dict[str, Path], values: str) -> None:
    outputs = {}
    for version, path in helms.items():
        result = helm_template(path, values, files=(FEATURES,) if values == "production" else ())
        assert result.returncode == 0, result.stderr
        docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        for doc in docs:  # keys generated at random per render (kept across upgrades by lookup)
            if doc["kind"] == "Secret" and doc["metadata"].get("annotations", {}).get("helm.sh/resource-policy"):
                doc["data"] = dict.fromkeys(doc.get("data", {}), "<random>")
        outputs[version] = docs
    first, second = outputs.values()
    assert len(first) > 50 and first == second
