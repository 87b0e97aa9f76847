"""The chart's security guarantees (issue 14), each asserted on what Helm 4 and Helm 3 really render:
application keys from Secrets (never derived), gRPC TLS on every hop from Secrets or cert-manager,
egress to the public Internet only, and the standards' artefacts from a volume."""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cityops_devtools.testing import load_by_path

from .conftest import APIS_V1, ROOT

pytestmark = pytest.mark.timeout(1200)

Manifest = list[dict[str, Any]]
Render = Callable[..., Manifest]
CERT_MANAGER = (*APIS_V1, "cert-manager.io/v1")
GRPC_SERVICES = ("incidents", "dispatch", "sensors", "notifications")
TLS_DIR = "/etc/cityops/grpc-tls"


def of_kind(manifest: Manifest, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifest if d["kind"] == kind}


def pod_spec(manifest: Manifest, deployment: str) -> dict[str, Any]:
    return dict(of_kind(manifest, "Deployment")[deployment]["spec"]["template"]["spec"])


def env_of(manifest: Manifest, deployment: str) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in pod_spec(manifest, deployment)["containers"][0]["env"]}


def mounts_of(manifest: Manifest, deployment: str) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in pod_spec(manifest, deployment)["containers"][0]["volumeMounts"]}


def volumes_of(manifest: Manifest, deployment: str) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod_spec(manifest, deployment)["volumes"]}


def secret_ref(env: dict[str, dict[str, Any]], name: str) -> dict[str, str]:
    assert "value" not in env[name], f"{name} must come from a Secret, not a literal"
    return dict(env[name]["valueFrom"]["secretKeyRef"])


# --- 1. application keys --------------------------------------------------------------------------


def test_notify_sealing_key_is_one_generated_secret_shared_by_api_and_worker(render: Render) -> None:
    manifest = render()
    refs = [
        secret_ref(env_of(manifest, f"cityops-notifications-{k}"), "CITYOPS_NOTIFY_SECRET_KEY")
        for k in ("api", "worker")
    ]
    assert refs[0] == refs[1] == {"name": "cityops-app-keys", "key": "notify-secret-key"}
    secret = of_kind(manifest, "Secret")["cityops-app-keys"]
    assert set(secret["data"]) == {"notify-secret-key", "rating-link-secret", "phone-hash-key"}
    assert len(set(secret["data"].values())) == 3  # independent random keys
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # Only notifications holds the sealing key.
    for other in ("incidents-api", "incidents-worker", "dispatch-api", "gateway-api", "sensors-worker"):
        assert "CITYOPS_NOTIFY_SECRET_KEY" not in env_of(manifest, f"cityops-{other}")


def test_phone_hash_key_reaches_the_incidents_api_only(render: Render) -> None:
    manifest = render()
    ref = secret_ref(env_of(manifest, "cityops-incidents-api"), "CITYOPS_INCIDENTS_PHONE_HASH_KEY")
    assert ref == {"name": "cityops-app-keys", "key": "phone-hash-key"}
    for other in ("incidents-worker", "dispatch-api", "gateway-api", "notifications-api"):
        assert "CITYOPS_INCIDENTS_PHONE_HASH_KEY" not in env_of(manifest, f"cityops-{other}")
    own = render(set_values=("phoneHashKey.existingSecret=ioc-callers", "phoneHashKey.key=k"))
    assert secret_ref(env_of(own, "cityops-incidents-api"), "CITYOPS_INCIDENTS_PHONE_HASH_KEY") == {
        "name": "ioc-callers", "key": "k"}
    assert "phone-hash-key" not in of_kind(own, "Secret")["cityops-app-keys"]["data"]


def test_a_previous_phone_hash_key_comes_from_its_secret_and_retention_reaches_the_worker(render: Render) -> None:
    from cityops_incidents.settings import IncidentsSettings

    manifest = render()
    assert "CITYOPS_INCIDENTS_PHONE_HASH_KEY_PREVIOUS" not in env_of(manifest, "cityops-incidents-api")
    worker = env_of(manifest, "cityops-incidents-worker")
    default_days = IncidentsSettings.model_fields["request_key_retention_days"].default
    assert float(worker["CITYOPS_INCIDENTS_REQUEST_KEY_RETENTION_DAYS"]["value"]) == default_days
    rotated = render(set_values=("phoneHashKey.previous.existingSecret=ioc-callers-2025",
                                 "incidents.requestKeyRetentionDays=14"))
    assert secret_ref(env_of(rotated, "cityops-incidents-api"), "CITYOPS_INCIDENTS_PHONE_HASH_KEY_PREVIOUS") == {
        "name": "ioc-callers-2025", "key": "phone-hash-key-previous"}
    for other in ("incidents-worker", "dispatch-api", "gateway-api"):
        assert "CITYOPS_INCIDENTS_PHONE_HASH_KEY_PREVIOUS" not in env_of(rotated, f"cityops-{other}")
    assert env_of(rotated, "cityops-incidents-worker")["CITYOPS_INCIDENTS_REQUEST_KEY_RETENTION_DAYS"]["value"] == "14"
    # The previous key is never generated: only a key that really hashed earlier reports can be it.
    assert "phone-hash-key-previous" not in of_kind(rotated, "Secret")["cityops-app-keys"]["data"]


def test_generated_keys_are_random_per_render_so_never_a_public_default(render: Render) -> None:
    # `helm template` has no cluster to look up: each render draws new keys (lookup keeps them on upgrade).
    first = of_kind(render(set_values=("config.logLevel=INFO",)), "Secret")["cityops-app-keys"]["data"]
    second = of_kind(render(set_values=("config.logLevel=DEBUG",)), "Secret")["cityops-app-keys"]["data"]
    assert first["notify-secret-key"] != second["notify-secret-key"]
    assert first["rating-link-secret"] != second["rating-link-secret"]


def test_rating_link_key_and_base_url_reach_signers_and_the_verifying_gateway(render: Render) -> None:
    manifest = render()  # production values: baseUrl on the public host
    for deployment in ("incidents-api", "notifications-api", "notifications-worker", "gateway-api"):
        env = env_of(manifest, f"cityops-{deployment}")
        assert secret_ref(env, "CITYOPS_RATING_LINK_SECRET") == {
            "name": "cityops-app-keys",
            "key": "rating-link-secret",
        }
        assert env["CITYOPS_RATING_LINK_BASE_URL"]["value"] == "https://open311.example.gov.vn"
    assert "CITYOPS_RATING_LINK_SECRET" not in env_of(manifest, "cityops-sensors-api")
    # Without baseUrl: the first Ingress host.
    default = env_of(render(set_values=("ratingLink.baseUrl=",)), "cityops-gateway-api")
    assert default["CITYOPS_RATING_LINK_BASE_URL"]["value"] == "https://ioc.example.internal"


def test_existing_secrets_replace_the_generated_keys(render: Render) -> None:
    manifest = render(
        set_values=(
            "notifications.secretKey.existingSecret=ioc-notify",
            "ratingLink.existingSecret=ioc-rating",
            "ratingLink.key=k",
            "phoneHashKey.existingSecret=ioc-callers",
        )
    )
    assert "cityops-app-keys" not in of_kind(manifest, "Secret")
    env = env_of(manifest, "cityops-notifications-worker")
    assert secret_ref(env, "CITYOPS_NOTIFY_SECRET_KEY") == {"name": "ioc-notify", "key": "notify-secret-key"}
    assert secret_ref(env, "CITYOPS_RATING_LINK_SECRET") == {"name": "ioc-rating", "key": "k"}
    # One given, the others still generated.
    partial = of_kind(render(set_values=("ratingLink.existingSecret=ioc-rating",)), "Secret")
    assert set(partial["cityops-app-keys"]["data"]) == {"notify-secret-key", "phone-hash-key"}


# --- 2. gRPC TLS ------------------------------------------------------------------------------------


def _assert_tls_wiring(manifest: Manifest, secrets: dict[str, str]) -> None:
    for svc in (*GRPC_SERVICES, "gateway"):
        deployment = f"cityops-{svc}-api"
        env = env_of(manifest, deployment)
        assert volumes_of(manifest, deployment)["grpc-tls"]["secret"]["secretName"] == secrets[svc]
        assert mounts_of(manifest, deployment)["grpc-tls"] == {
            "name": "grpc-tls",
            "mountPath": TLS_DIR,
            "readOnly": True,
        }
        if svc != "gateway":  # servers: their certificate, and callers checked against the CA (mTLS)
            assert env["CITYOPS_GRPC_TLS_CERT"]["value"] == f"{TLS_DIR}/tls.crt"
            assert env["CITYOPS_GRPC_TLS_KEY"]["value"] == f"{TLS_DIR}/tls.key"
            assert env["CITYOPS_GRPC_TLS_CLIENT_CA"]["value"] == f"{TLS_DIR}/ca.crt"
            container = pod_spec(manifest, deployment)["containers"][0]
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                command = container[probe]["exec"]["command"]
                assert command[:4] == ["cityops", "health", "--addr", command[3]] and command[3].startswith(
                    "localhost:"
                )
                assert "--tls-ca" in command and "grpc" not in container[probe]
        if svc in ("gateway", "dispatch"):  # clients: trust the CA, present their certificate
            assert env["CITYOPS_GRPC_TLS_SERVER_CA"]["value"] == f"{TLS_DIR}/ca.crt"
            assert env["CITYOPS_GRPC_TLS_CLIENT_CERT"]["value"] == f"{TLS_DIR}/tls.crt"
        else:
            assert "CITYOPS_GRPC_TLS_SERVER_CA" not in env
    # Workers call no gRPC: nothing mounted.
    assert "grpc-tls" not in volumes_of(manifest, "cityops-dispatch-worker")
    # The helm test pod checks each api over mTLS with the gateway's certificate.
    test_pod = of_kind(manifest, "Pod")["cityops-helm-test"]
    assert {v["name"]: v for v in test_pod["spec"]["volumes"]}["grpc-tls"]["secret"]["secretName"] == secrets["gateway"]
    health = next(c for c in test_pod["spec"]["containers"] if c["name"] == "health-incidents")
    assert "--tls-ca" in health["args"]


def test_production_values_turn_mutual_tls_on_from_existing_secrets(render: Render) -> None:
    manifest = render()
    _assert_tls_wiring(manifest, {svc: f"cityops-{svc}-grpc-tls" for svc in (*GRPC_SERVICES, "gateway")})
    assert not of_kind(manifest, "Certificate")


def test_cert_manager_certificates_name_every_service_dns_name(render: Render) -> None:
    manifest = render(
        "staging", apis=CERT_MANAGER, set_values=("tls.enabled=true", "tls.existingSecrets.gateway=gw-tls")
    )
    certificates = of_kind(manifest, "Certificate")
    assert set(certificates) == {f"cityops-{svc}-api-tls" for svc in GRPC_SERVICES}  # gateway: its own Secret
    _assert_tls_wiring(manifest, {**{svc: f"cityops-{svc}-api-tls" for svc in GRPC_SERVICES}, "gateway": "gw-tls"})
    spec = certificates["cityops-incidents-api-tls"]["spec"]
    assert spec["secretName"] == "cityops-incidents-api-tls"
    assert spec["issuerRef"] == {"name": "cityops-ca", "kind": "Issuer", "group": "cert-manager.io"}
    assert {"server auth", "client auth"} <= set(spec["usages"])
    names = set(spec["dnsNames"])
    for base in ("cityops-incidents-api", "cityops-incidents-api-headless"):
        assert {base, f"{base}.cityops", f"{base}.cityops.svc", f"{base}.cityops.svc.cluster.local"} <= names
    assert "localhost" in names
    # The gateway dials exactly a name the certificate carries.
    addr = of_kind(manifest, "ConfigMap")["cityops-config"]["data"]["CITYOPS_INCIDENTS_ADDR"]
    assert addr.removeprefix("dns:///").rsplit(":", 1)[0] in names


def _validator() -> Any:
    return load_by_path("cityops_validate_manifests", ROOT / "helm" / "validate_manifests.py")


def test_cert_manager_certificates_are_valid_against_cert_managers_own_crds(
    render: Render, cert_manager_crds: Path
) -> None:
    validate = _validator()
    crds, served = validate.load_crds([cert_manager_crds])
    assert "cert-manager.io/v1/Certificate" in crds
    manifest = render("production", apis=CERT_MANAGER, set_values=("tls.existingSecrets=null",))
    certificates = of_kind(manifest, "Certificate")
    assert set(certificates) == {f"cityops-{svc}-api-tls" for svc in (*GRPC_SERVICES, "gateway")}
    for name, cert in certificates.items():
        assert validate.validate_document(cert, "1.35.0", {}, crds, served) is None, name
    # The check can fail: what cert-manager's API server would refuse is refused here too.
    bad_enum = copy.deepcopy(certificates["cityops-incidents-api-tls"])
    bad_enum["spec"]["privateKey"]["algorithm"] = "DSA"  # the CRD's enum: RSA, ECDSA, Ed25519
    assert "DSA" in (validate.validate_document(bad_enum, "1.35.0", {}, crds, served) or "")
    unknown = copy.deepcopy(certificates["cityops-incidents-api-tls"])
    unknown["spec"]["renewBeforez"] = "1h"
    assert "renewBeforez" in (validate.validate_document(unknown, "1.35.0", {}, crds, served) or "")
    old = {**certificates["cityops-incidents-api-tls"], "apiVersion": "cert-manager.io/v1alpha2"}
    assert "not served" in (validate.validate_document(old, "1.35.0", {}, crds, served) or "")


def test_tls_with_cert_manager_not_served_or_no_certificate_fails_clearly(
    helm: Any, render_failure: Callable[..., str]
) -> None:
    error = render_failure("staging", apis=APIS_V1, set_values=("tls.enabled=true",))
    assert "cert-manager.io/v1" in error
    error = render_failure("staging", apis=APIS_V1, set_values=("tls.enabled=true", "tls.certManager.enabled=false"))
    assert "tls.existingSecrets." in error


def test_tls_off_keeps_native_grpc_probes_and_plaintext(render: Render) -> None:
    manifest = render("staging")
    container = pod_spec(manifest, "cityops-incidents-api")["containers"][0]
    assert container["readinessProbe"]["grpc"] == {"port": 50051}
    assert not [n for n in env_of(manifest, "cityops-gateway-api") if n.startswith("CITYOPS_GRPC_TLS")]


# --- 3. egress --------------------------------------------------------------------------------------


PRIVATE = (
    "10.1.2.3",
    "172.20.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "127.0.0.1",
    "fd00:ec2::254",
    "fe80::1",
    "::1",
    "::ffff:169.254.169.254",
)


def _allowed_by_ip_blocks(rules: list[dict[str, Any]], address: str, port: int) -> bool:
    ip = ipaddress.ip_address(address)
    for rule in rules:
        if port not in [p["port"] for p in rule.get("ports", [])]:
            continue
        for peer in rule.get("to", []):
            block = peer.get("ipBlock")
            if not block or ip.version != ipaddress.ip_network(block["cidr"]).version:
                continue
            inside = ip in ipaddress.ip_network(block["cidr"])
            excluded = any(ip in ipaddress.ip_network(e) for e in block.get("except", []))
            if inside and not excluded:
                return True
    return False


def test_egress_to_the_internet_excludes_private_link_local_and_cgnat(render: Render) -> None:
    manifest = render()
    policies = of_kind(manifest, "NetworkPolicy")
    worker = policies["cityops-notifications-worker"]["spec"]["egress"]
    blocks = [p["ipBlock"] for r in worker for p in r.get("to", []) if "ipBlock" in p]
    assert sorted(b["cidr"] for b in blocks) == ["0.0.0.0/0", "::/0"]
    for rule in worker:  # IPv4 and IPv6 in separate rules
        cidrs = [p["ipBlock"]["cidr"] for p in rule.get("to", []) if "ipBlock" in p]
        assert len(cidrs) <= 1
    for address in PRIVATE:
        assert not _allowed_by_ip_blocks(worker, address, 443), address
    for address in ("8.8.8.8", "203.0.113.7", "2001:4860:4860::8888"):
        assert _allowed_by_ip_blocks(worker, address, 443), address
    assert not _allowed_by_ip_blocks(worker, "8.8.8.8", 8080)
    # No other policy opens an ipBlock.
    for name, policy in policies.items():
        if name != "cityops-notifications-worker":
            assert not [p for r in policy["spec"]["egress"] for p in r.get("to", []) if "ipBlock" in p], name


def test_in_cluster_peers_are_explicit_rules(render: Render) -> None:
    policies = of_kind(render(), "NetworkPolicy")

    def peers(name: str) -> list[dict[str, Any]]:
        return [p for r in policies[name]["spec"]["egress"] for p in r.get("to", [])]

    for name in ("cityops-notifications-worker", "cityops-dispatch-api"):
        selectors = [p.get("podSelector", {}).get("matchLabels", {}) for p in peers(name)]
        assert {"k8s-app": "kube-dns"} in selectors
        assert {"strimzi.io/cluster": "cityops-kafka", "strimzi.io/kind": "Kafka"} in selectors
        assert {"cnpg.io/cluster": "cityops-db"} in selectors
    # dispatch's api calls incidents (EIDO): allowed both ways, on the incidents port only.
    dispatch_rules = policies["cityops-dispatch-api"]["spec"]["egress"]
    to_incidents = [
        r
        for r in dispatch_rules
        if any(
            p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") == "incidents-api"
            for p in r.get("to", [])
        )
    ]
    assert [r["ports"] for r in to_incidents] == [[{"port": 50051, "protocol": "TCP"}]]
    ingress_from = [
        p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for r in policies["cityops-incidents-api"]["spec"]["ingress"]
        for p in r.get("from", [])
        if "podSelector" in p
    ]
    assert "dispatch-api" in ingress_from
    assert "dispatch-api" not in [
        p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for r in policies["cityops-sensors-api"]["spec"]["ingress"]
        for p in r.get("from", [])
        if "podSelector" in p
    ]


# --- 6. standards artefacts ---------------------------------------------------------------------------


def test_standards_volume_is_mounted_read_only_on_dispatch_and_notifications(render: Render) -> None:
    manifest = render(set_values=("standards.volume.persistentVolumeClaim.claimName=cityops-standards",))
    for deployment in ("dispatch-api", "dispatch-worker", "notifications-api", "notifications-worker"):
        name = f"cityops-{deployment}"
        assert volumes_of(manifest, name)["standards"] == {
            "name": "standards",
            "persistentVolumeClaim": {"claimName": "cityops-standards"},
        }
        assert mounts_of(manifest, name)["standards"] == {
            "name": "standards",
            "mountPath": "/etc/cityops/standards",
            "readOnly": True,
        }
        assert env_of(manifest, name)["CITYOPS_STANDARDS_DIR"]["value"] == "/etc/cityops/standards"
    for other in ("incidents-api", "sensors-worker", "gateway-api"):
        assert "standards" not in volumes_of(manifest, f"cityops-{other}")
        assert "CITYOPS_STANDARDS_DIR" not in env_of(manifest, f"cityops-{other}")


def test_without_a_standards_volume_nothing_is_mounted(render: Render) -> None:
    manifest = render()
    assert "standards" not in volumes_of(manifest, "cityops-dispatch-api")
    assert "CITYOPS_STANDARDS_DIR" not in env_of(manifest, "cityops-dispatch-api")


# --- 4. one Kafka user per process role, from the code's catalog -------------------------------------


def _acl_table(user: dict[str, Any]) -> dict[tuple[str, str, str], set[str]]:
    table: dict[tuple[str, str, str], set[str]] = {}
    for acl in user["spec"]["authorization"]["acls"]:
        r = acl["resource"]
        table.setdefault((r["type"], r.get("name", ""), r.get("patternType", "")), set()).update(acl["operations"])
    return table


def test_one_kafka_user_per_process_role_with_exactly_the_catalogs_acls(render: Render) -> None:
    from cityops_platform.kafka.topics import ACCESS

    users = of_kind(render(), "KafkaUser")
    assert set(users) == {f"cityops-{role}" for role in ACCESS} | set()  # topics are KafkaTopics here
    for role, access in ACCESS.items():
        expected: dict[tuple[str, str, str], set[str]] = {}
        for spec in access.reads:
            expected.setdefault(("topic", spec.name, "literal"), set()).update({"Read", "Describe"})
        for spec in (*access.writes, *access.dlq_writes()):
            expected.setdefault(("topic", spec.name, "literal"), set()).update({"Write", "Describe"})
        if access.faust:
            app = f"cityops-{role.split('-')[0]}-worker"
            expected[("group", app, "literal")] = {"Read", "Describe"}
            expected[("topic", app, "prefix")] = {"Create", "Read", "Write", "Describe", "DescribeConfigs"}
        if access.writes or access.dlq_writes():
            expected[("cluster", "", "")] = {"IdempotentWrite"}
        assert _acl_table(users[f"cityops-{role}"]) == expected, role


def test_each_pod_authenticates_as_its_own_role(render: Render) -> None:
    manifest = render()
    for deployment in ("incidents-api", "incidents-worker", "gateway-api", "notifications-worker"):
        env = env_of(manifest, f"cityops-{deployment}")
        assert env["CITYOPS_KAFKA_SASL_USERNAME"]["value"] == f"cityops-{deployment}"
        assert secret_ref(env, "CITYOPS_KAFKA_SASL_PASSWORD") == {"name": f"cityops-{deployment}", "key": "password"}
    # The worker's KEDA trigger reads the worker's own credentials and consumed topics.
    auth = of_kind(manifest, "TriggerAuthentication")["cityops-incidents-worker"]
    assert {"parameter": "password", "name": "cityops-incidents-worker", "key": "password"} in auth["spec"][
        "secretTargetRef"
    ]
    triggers = of_kind(manifest, "ScaledObject")["cityops-incidents-worker"]["spec"]["triggers"]
    assert sorted(t["metadata"]["topic"] for t in triggers) == [
        "cityops.dispatch.events.v1",
        "cityops.sensors.alerts.v1",
    ]


def test_api_roles_own_no_consumer_group_and_no_topic_they_do_not_use(render: Render) -> None:
    users = of_kind(render(), "KafkaUser")
    gateway = _acl_table(users["cityops-gateway-api"])
    assert all(ops <= {"Read", "Describe"} for ops in gateway.values())
    assert ("group", "cityops-incidents-worker", "literal") not in _acl_table(users["cityops-incidents-api"])
    assert ("topic", "cityops.notifications.deliveries.v1", "literal") not in _acl_table(
        users["cityops-incidents-worker"]
    )


def test_standards_volume_takes_exactly_one_source(render_failure: Callable[..., str]) -> None:
    error = render_failure(
        set_values=("standards.volume.image.reference=registry/standards:1", "standards.volume.nfs.server=nas",
                    "standards.volume.nfs.path=/standards")
    )
    assert "maxProperties" in error


def test_the_gateway_believes_x_forwarded_for_only_from_its_trusted_proxies(
    render: Render, render_failure: Callable[..., str]
) -> None:
    manifest = render()  # production: an ingress, and the ingress controller's pod network trusted
    deployments = of_kind(manifest, "Deployment")
    for name, deployment in deployments.items():
        env = {e["name"]: e.get("value") for c in deployment["spec"]["template"]["spec"]["containers"]
               for e in c.get("env", [])}
        if name == "cityops-gateway-api":
            assert env["FORWARDED_ALLOW_IPS"] == "10.244.0.0/16"
        else:
            assert "FORWARDED_ALLOW_IPS" not in env, name
    # An ingress without trusted proxies: every client would share the proxy's address.
    error = render_failure("production", set_values=("services.gateway.trustedProxies=null",))
    assert "services.gateway.trustedProxies" in error
    # "*" would believe the client-written left-most entry: refused by the schema.
    error = render_failure("production", set_values=("services.gateway.trustedProxies={*}",))
    assert "trustedProxies" in error
