"""What the rendered chart guarantees, asserted on the objects the real helm produces (Helm 4 and Helm 3)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .conftest import STRIMZI_ONLY

pytestmark = pytest.mark.timeout(1200)  # the first render may build both helms (a few minutes each)

Manifest = list[dict[str, Any]]
Render = Callable[..., Manifest]
GRPC_SERVICES = {"incidents": 50051, "dispatch": 50052, "sensors": 50053, "notifications": 50054}


def of_kind(manifest: Manifest, kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifest if doc["kind"] == kind]


def by_name(manifest: Manifest, kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in of_kind(manifest, kind)}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def pod_specs(manifest: Manifest) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in manifest:
        if doc["kind"] in ("Deployment", "Job"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]
        elif doc["kind"] == "Pod":
            yield f"Pod/{doc['metadata']['name']}", doc["spec"]


def test_production_renders_an_api_and_a_worker_per_service(render: Render) -> None:
    names = set(by_name(render(), "Deployment"))
    expected = {f"cityops-{svc}-{kind}" for svc in GRPC_SERVICES for kind in ("api", "worker")}
    assert names == expected | {"cityops-gateway-api"}


def test_every_deployment_container_has_startup_readiness_and_liveness_probes(render: Render) -> None:
    for deploy in of_kind(render(), "Deployment"):
        for container in deploy["spec"]["template"]["spec"]["containers"]:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in container, f"{deploy['metadata']['name']}/{container['name']} lacks {probe}"


def test_grpc_apis_use_native_grpc_probes_liveness_and_readiness_apart(render: Render) -> None:
    # Plaintext gRPC (the kubelet's gRPC probe speaks no TLS; with tls.enabled see test_security.py).
    deployments = by_name(render(set_values=("tls.enabled=false",)), "Deployment")
    for svc, port in GRPC_SERVICES.items():
        container = deployments[f"cityops-{svc}-api"]["spec"]["template"]["spec"]["containers"][0]
        # Readiness is the overall status (dependencies, drain); liveness the "liveness" service.
        assert container["readinessProbe"]["grpc"] == {"port": port}
        for probe in ("startupProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": port, "service": "liveness"}


def test_every_container_has_requests_limits_and_a_hardened_security_context(render: Render) -> None:
    specs = list(pod_specs(render()))
    assert any(name.startswith("Job/") for name, _ in specs) and any(name.startswith("Pod/") for name, _ in specs)
    for name, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            where = f"{name}/{container['name']}"
            for section in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][section]), where
            ctx = container["securityContext"]
            assert ctx["runAsNonRoot"] is True, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where


def test_read_only_root_gets_writable_emptydirs_for_tmp_and_faust_data(render: Render) -> None:
    for name, spec in pod_specs(render()):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in spec["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert "emptyDir" in volumes[mounts["/tmp"]], name
            if name.endswith("-worker"):
                assert "emptyDir" in volumes[mounts["/var/lib/cityops/data"]], name


def test_every_selector_matches_the_labels_of_the_pods_it_targets(render: Render) -> None:
    manifest = render()
    deployments = of_kind(manifest, "Deployment")
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments]
    for deploy in deployments:
        assert matches(deploy["spec"]["selector"]["matchLabels"], deploy["spec"]["template"]["metadata"]["labels"])
    # Each Service, PDB and NetworkPolicy selects exactly one Deployment's pods.
    for kind, path in (
        ("Service", ("spec", "selector")),
        ("PodDisruptionBudget", ("spec", "selector", "matchLabels")),
        ("NetworkPolicy", ("spec", "podSelector", "matchLabels")),
    ):
        for doc in of_kind(manifest, kind):
            selector = doc
            for key in path:
                selector = selector[key]
            hits = [labels for labels in pod_labels if matches(selector, labels)]
            is_job_policy = kind == "NetworkPolicy" and doc["metadata"]["name"].endswith(("-migrations", "-topics"))
            assert len(hits) == (0 if is_job_policy else 1), f"{kind}/{doc['metadata']['name']} selects {len(hits)}"


def test_every_worker_has_a_keda_scaler_on_its_consumer_group_lag(render: Render) -> None:
    manifest = render()
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in of_kind(manifest, "ScaledObject")}
    topics = {t["spec"]["topicName"] for t in of_kind(manifest, "KafkaTopic")}
    workers = [name for name in by_name(manifest, "Deployment") if name.endswith("-worker")]
    assert len(workers) == 4
    for worker in workers:
        svc = worker.removeprefix("cityops-").removesuffix("-worker")
        triggers = scaled[worker]["spec"]["triggers"]
        assert triggers and all(t["type"] == "kafka" for t in triggers), worker
        for trigger in triggers:
            assert trigger["metadata"]["consumerGroup"] == f"cityops-{svc}-worker"
            assert int(trigger["metadata"]["lagThreshold"]) > 0
            assert trigger["metadata"]["topic"] in topics
            assert trigger["authenticationRef"]["name"] in by_name(manifest, "TriggerAuthentication")
        # No CPU HPA fights KEDA for the same Deployment.
        assert worker not in {h["spec"]["scaleTargetRef"]["name"] for h in of_kind(manifest, "HorizontalPodAutoscaler")}


def test_without_keda_every_worker_falls_back_to_a_cpu_hpa(render: Render) -> None:
    manifest = render(apis=STRIMZI_ONLY)
    assert not of_kind(manifest, "ScaledObject")
    hpa_targets = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(manifest, "HorizontalPodAutoscaler")}
    for name, deploy in by_name(manifest, "Deployment").items():
        assert name in hpa_targets, name
        assert hpa_targets[name]["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert "replicas" not in deploy["spec"], f"{name}: a fixed replica count would fight the HPA"


def test_strimzi_topics_cover_the_catalog_and_a_dlq_each_and_survive_uninstall(render: Render) -> None:
    manifest = render()
    topics = {t["spec"]["topicName"]: t for t in of_kind(manifest, "KafkaTopic")}
    base = {
        "cityops.incidents.events.v1",
        "cityops.dispatch.events.v1",
        "cityops.dispatch.unit-status.v1",
        "cityops.sensors.readings.v1",
        "cityops.sensors.alerts.v1",
        "cityops.notifications.deliveries.v1",
        "cityops.dispatch.eido-conveyances.v1",
    }
    assert set(topics) == base | {f"{name}.dlq" for name in base}
    assert topics["cityops.dispatch.unit-status.v1"]["spec"]["config"]["cleanup.policy"] == "compact"
    for topic in topics.values():
        assert topic["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert not [j for j in of_kind(manifest, "Job") if j["metadata"]["name"].endswith("-topics")]


@pytest.mark.parametrize("apis", [(), STRIMZI_ONLY], ids=["no-crds", "strimzi-present"])
def test_external_kafka_gets_a_hook_job_running_cityops_topics_apply(render: Render, apis: tuple[str, ...]) -> None:
    manifest = render(apis=apis, set_values=("kafka.externalKafka.enabled=true",))
    assert not of_kind(manifest, "KafkaTopic") and not of_kind(manifest, "KafkaUser")
    job = by_name(manifest, "Job")["cityops-topics"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["topics", "apply"]
    assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(render: Render) -> None:
    manifest = render()
    job = by_name(manifest, "Job")["cityops-migrations"]
    assert set(job["metadata"]["annotations"]["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    spec = job["spec"]["template"]["spec"]
    assert spec["containers"][0]["args"] == ["migrate"]
    # A hook runs before the release's own objects exist, so its ServiceAccount must be a hook too.
    account = by_name(manifest, "ServiceAccount")[spec["serviceAccountName"]]
    assert "pre-install" in account["metadata"]["annotations"]["helm.sh/hook"]
    env = {e["name"]: e for e in spec["containers"][0]["env"]}
    assert env["CITYOPS_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "cityops-db-app", "key": "uri"}


def test_kafka_users_get_least_privilege_acls_from_the_event_flow(render: Render) -> None:
    users = by_name(render(), "KafkaUser")
    # One user per process role (issue 14): <svc>-api and <svc>-worker, and the gateway's api.
    assert set(users) == {f"cityops-{svc}-{kind}" for svc in GRPC_SERVICES for kind in ("api", "worker")} | {
        "cityops-gateway-api"
    }

    def ops(user: str, name: str) -> set[str]:
        return {
            op
            for acl in users[user]["spec"]["authorization"]["acls"]
            if acl["resource"].get("name") == name
            for op in acl["operations"]
        }

    assert ops("cityops-incidents-worker", "cityops.sensors.alerts.v1") == {"Read", "Describe"}
    assert ops("cityops-incidents-worker", "cityops.incidents.events.v1") == {"Write", "Describe"}
    assert ops("cityops-incidents-worker", "cityops.notifications.deliveries.v1") == set()
    assert ops("cityops-incidents-api", "cityops.sensors.alerts.v1") == set()
    assert "Write" not in ops("cityops-gateway-api", "cityops.incidents.events.v1")


def test_secrets_come_from_existing_secrets_and_strimzi_user_secrets(render: Render) -> None:
    deployments = by_name(render(), "Deployment")
    container = deployments["cityops-dispatch-worker"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["CITYOPS_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "cityops-dispatch-worker",
        "key": "password",
    }
    assert env["CITYOPS_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"] == "uri"
    api_env = {
        e["name"] for e in deployments["cityops-dispatch-api"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert "CITYOPS_JWT_SECRET" in api_env
    gateway_env = {
        e["name"] for e in deployments["cityops-gateway-api"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert "CITYOPS_DATABASE_URL" not in gateway_env, "the gateway is stateless and gets no DB credentials"


def test_grpc_apis_accept_traffic_only_from_the_gateway_the_helm_test_and_dispatch_for_incidents(
    render: Render,
) -> None:
    policies = by_name(render(), "NetworkPolicy")
    for svc, port in GRPC_SERVICES.items():
        rules = policies[f"cityops-{svc}-api"]["spec"]["ingress"]
        grpc_rules = [r for r in rules if {"port": port, "protocol": "TCP"} in r["ports"]]
        assert len(grpc_rules) == 1
        peers = {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in grpc_rules[0]["from"]}
        # dispatch's api calls incidents (EIDO import): the one service-to-service hop.
        assert peers == {"gateway-api", "helm-test"} | ({"dispatch-api"} if svc == "incidents" else set())


def test_production_is_highly_available(render: Render) -> None:
    manifest = render()
    pdbs = {
        p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in of_kind(manifest, "PodDisruptionBudget")
    }
    for name, deploy in by_name(manifest, "Deployment").items():
        spec = deploy["spec"]["template"]["spec"]
        assert spec["affinity"]["podAntiAffinity"], name
        assert {c["topologyKey"] for c in spec["topologySpreadConstraints"]} >= {"topology.kubernetes.io/zone"}, name
        assert deploy["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] in pdbs, name
    for hpa in of_kind(manifest, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] >= 3


def test_helm_test_pod_checks_the_health_of_every_api(render: Render) -> None:
    pod = of_kind(render(), "Pod")[0]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    commands = {c["name"]: c for c in pod["spec"]["containers"]}
    for svc, port in GRPC_SERVICES.items():
        # Production: over mutual TLS with the gateway's client certificate.
        assert commands[f"health-{svc}"]["args"][:3] == ["health", "--addr", f"cityops-{svc}-api:{port}"]
        assert commands[f"health-{svc}"]["args"][3:] == [
            "--tls-ca", "/etc/cityops/grpc-tls/ca.crt",
            "--tls-cert", "/etc/cityops/grpc-tls/tls.crt", "--tls-key", "/etc/cityops/grpc-tls/tls.key",
        ]
    assert "http://cityops-gateway-api:8080/readyz" in commands["health-gateway"]["args"]


def test_service_monitor_scrapes_every_service_by_its_metrics_port(render: Render) -> None:
    manifest = render()
    monitor = of_kind(manifest, "ServiceMonitor")[0]
    services = of_kind(manifest, "Service")
    assert all(matches(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"]) for s in services)
    # Headless Services (gRPC balancing) carry only grpc, so no pod is scraped twice.
    scraped = [s for s in services if s["spec"].get("clusterIP") != "None"]
    assert len(scraped) == 9 and all(any(p["name"] == "metrics" for p in s["spec"]["ports"]) for s in scraped)
    headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
    assert len(headless) == 4 and not any(p["name"] == "metrics" for s in headless for p in s["spec"]["ports"])
    assert not of_kind(render(apis=STRIMZI_ONLY), "ServiceMonitor")


def test_every_cityops_variable_the_chart_sets_is_a_setting_the_code_reads(render: Render) -> None:
    from cityops_dispatch.settings import DispatchSettings
    from cityops_incidents.settings import IncidentsSettings
    from cityops_notifications.settings import NotificationsSettings
    from cityops_platform import standards
    from cityops_platform.ratinglinks import RatingLinkSettings
    from cityops_platform.settings import Settings

    from .conftest import FEATURES

    # Besides the settings classes: the rating-link settings and the standards folder.
    extra = {f"CITYOPS_RATING_LINK_{name.upper()}" for name in RatingLinkSettings.model_fields} | {standards.ENV}
    known = {f"CITYOPS_{name.upper()}" for name in Settings.model_fields} | extra
    # The incidents api's own settings (CITYOPS_INCIDENTS_*), e.g. the callers' phone-hash key.
    known |= {f"CITYOPS_INCIDENTS_{name.upper()}" for name in IncidentsSettings.model_fields}
    known |= {f"CITYOPS_DISPATCH_{name.upper()}" for name in DispatchSettings.model_fields}
    known_notifications = {f"CITYOPS_{name.upper()}" for name in NotificationsSettings.model_fields} | extra
    manifest = render(files=(FEATURES,))
    for name, spec in pod_specs(manifest):
        if "-notifications-" in name:
            env = {e["name"] for c in spec["containers"] for e in c.get("env", [])}
            assert {"CITYOPS_SMTP_PASSWORD", "CITYOPS_SMS_GATEWAY_API_KEY"} <= env, name
            assert {n for n in env if n.startswith("CITYOPS_")} - known_notifications == set(), name
    config = by_name(manifest, "ConfigMap")["cityops-config"]["data"]
    names = set(config)
    for name, spec in pod_specs(manifest):
        if "-notifications-" not in name:
            for container in spec["containers"]:
                names |= {e["name"] for e in container.get("env", [])}
    cityops_names = {n for n in names if n.startswith("CITYOPS_")}
    assert cityops_names - known == set()
    # Settings default to loopback; a pod must listen on its own IP for probes and peers.
    assert config["CITYOPS_GRPC_HOST"] == config["CITYOPS_HTTP_HOST"] == "0.0.0.0"


def test_default_kafka_topics_equal_the_code_catalog(render: Render) -> None:
    from cityops_platform.kafka.topics import all_topics

    rendered = {t["spec"]["topicName"]: t["spec"] for t in of_kind(render(None), "KafkaTopic")}
    assert set(rendered) == {spec.name for spec in all_topics()}
    for spec in all_topics():
        topic = rendered[spec.name]
        assert topic["partitions"] == spec.partitions, spec.name
        assert topic["config"]["retention.ms"] == spec.retention_ms, spec.name
        assert (topic["config"]["cleanup.policy"] == "compact") == spec.compacted, spec.name
