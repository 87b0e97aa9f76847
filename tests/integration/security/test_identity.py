"""The city's identity provider beside HS256, and token refusals that tell the caller nothing.

Real parts throughout: a local HTTP server publishes a JWKS of freshly generated RSA keys; the
real incidents api (its own policy, Postgres, Kafka) runs in-process on a real port; the real
gateway runs as its own process (`cityops serve gateway`) with the same identity provider.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client import REGISTRY

from cityops.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from cityops_devtools.city import cli_argv
from cityops_devtools.devstack import KafkaBroker, PostgresServer
from cityops_devtools.devstack._process import free_port, spawn, tail, terminate
from cityops_devtools.testing import make_settings
from cityops_platform import auth
from cityops_platform.db.migrations import migrate
from cityops_platform.kafka.admin import apply_topics
from cityops_platform.runtime import migrations_dir, service_resources, start_grpc
from cityops_platform.settings import Settings

pytestmark = pytest.mark.integration

ISSUER = "https://idp.example.test/realms/city"
AUDIENCE = "cityops-ioc"
ROLE_MAP = "ioc-operator:operator,ioc-dispatcher:dispatcher"
IDP_ENV = {
    "CITYOPS_JWT_IDP_ISSUER": ISSUER,
    "CITYOPS_JWT_IDP_AUDIENCE": AUDIENCE,
    "CITYOPS_JWT_IDP_ROLES_CLAIM": "realm_access.roles",
    "CITYOPS_JWT_IDP_ROLE_MAP": ROLE_MAP,
    "CITYOPS_JWT_IDP_SUBJECT_CLAIM": "preferred_username",
}


class Jwks:
    """A JWKS endpoint on a real loopback port; ``publish`` changes what it serves."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.fetches = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                jwks.fetches += 1
                body = json.dumps({"keys": [jwks.jwk(kid) for kid in jwks.published]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, name="jwks", daemon=True)
        self.thread.start()

    def new_key(self, kid: str, *, publish: bool = True) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if publish:
            self.published.append(kid)

    def jwk(self, kid: str) -> dict[str, Any]:
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**data, "kid": kid, "use": "sig", "alg": "RS256"}

    def token(self, kid: str, *, roles: list[str], user: str = "nguyen.van.a", ttl: int = 600,
              issuer: str = ISSUER, audience: str = AUDIENCE) -> str:
        now = int(time.time())
        claims = {"iss": issuer, "aud": audience, "sub": str(uuid.uuid4()), "preferred_username": user,
                  "iat": now, "exp": now + ttl, "realm_access": {"roles": roles}}
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def jwks() -> Iterator[Jwks]:
    server = Jwks()
    server.new_key("k1")
    yield server
    server.close()


@pytest.fixture(scope="module")
def incidents_api(kafka_broker: KafkaBroker, postgres_server: PostgresServer, jwks: Jwks) -> Iterator[Any]:
    """The real incidents api, trusting the identity provider, on its own loop in a thread."""
    import cityops_incidents.server as server

    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = postgres_server.create_database(name)
    settings = make_settings(
        kafka_bootstrap=kafka_broker.bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}.", database_url=dsn,
        jwt_jwks_url=jwks.url, jwt_idp_issuer=ISSUER, jwt_idp_audience=AUDIENCE,
        jwt_idp_roles_claim="realm_access.roles", jwt_idp_role_map=ROLE_MAP,
        jwt_idp_subject_claim="preferred_username",
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="identity-api", daemon=True)
    thread.start()
    stack = contextlib.AsyncExitStack()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(120)

    async def start() -> int:
        await apply_topics(settings)
        await migrate(dsn, "incidents", migrations_dir("incidents"))
        res = await stack.enter_async_context(service_resources("incidents", settings))
        running = await start_grpc("incidents", settings, res, build=server.build, policy=server.POLICY, port=0)
        stack.push_async_callback(running.stop, 0.2)
        return running.port

    try:
        port = run(start())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield incidents_pb2_grpc.IncidentServiceStub(channel)
    finally:
        run(stack.aclose())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        postgres_server.drop_database(name)


def _get(stub: Any, token: str) -> grpc.RpcError | None:
    try:
        stub.GetIncident(incidents_pb2.GetIncidentRequest(id=str(uuid.uuid4())),
                         metadata=(("authorization", f"Bearer {token}"),), timeout=10)
    except grpc.RpcError as exc:
        return exc
    return None


def _denials(reason: str) -> float:
    return REGISTRY.get_sample_value(
        "cityops_auth_denials_total",
        {"method": "/cityops.incidents.v1.IncidentService/GetIncident", "code": "UNAUTHENTICATED", "reason": reason},
    ) or 0.0


def test_a_token_of_the_identity_provider_is_accepted_with_its_mapped_roles(incidents_api: Any, jwks: Jwks) -> None:
    error = _get(incidents_api, jwks.token("k1", roles=["ioc-operator", "offline_access"]))
    # Authenticated and allowed: the service looked for the incident and did not find it.
    assert error is not None and error.code() == grpc.StatusCode.NOT_FOUND, error
    # Authenticated, but the provider's role maps to nothing CityOps knows: no access.
    error = _get(incidents_api, jwks.token("k1", roles=["ioc-visitor"]))
    assert error is not None and error.code() == grpc.StatusCode.PERMISSION_DENIED, error


def test_the_shared_hs256_key_still_works_beside_the_provider(incidents_api: Any) -> None:
    settings = Settings()
    token = auth.TokenCodec(settings.jwt_secret).issue("svc-gateway", ["operator"])
    error = _get(incidents_api, token)
    assert error is not None and error.code() == grpc.StatusCode.NOT_FOUND, error


@pytest.mark.parametrize(
    ("case", "reason"),
    [("wrong_issuer", "invalid_token"), ("wrong_audience", "invalid_token"), ("expired", "expired_token"),
     ("none_algorithm", "invalid_token"), ("hs256_with_the_public_key", "invalid_token")],
)
def test_tokens_the_provider_did_not_issue_are_refused_with_a_generic_message(
    incidents_api: Any, jwks: Jwks, case: str, reason: str
) -> None:
    tokens = {
        "wrong_issuer": lambda: jwks.token("k1", roles=["ioc-operator"], issuer="https://evil.example/realms/city"),
        "wrong_audience": lambda: jwks.token("k1", roles=["ioc-operator"], audience="another-app"),
        "expired": lambda: jwks.token("k1", roles=["ioc-operator"], ttl=-120),
        "none_algorithm": lambda: jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "preferred_username": "x", "iat": int(time.time()),
             "exp": int(time.time()) + 600, "realm_access": {"roles": ["ioc-operator"]}},
            None, algorithm="none", headers={"kid": "k1"}),
        # The classic confusion: the public key's bytes used as an HMAC secret.
        "hs256_with_the_public_key": lambda: _hs256_signed_with(json.dumps(jwks.jwk("k1"))),
    }
    before = _denials(reason)
    error = _get(incidents_api, tokens[case]())
    assert error is not None and error.code() == grpc.StatusCode.UNAUTHENTICATED, error
    assert error.details() == auth.GENERIC_AUTH_MESSAGE, "the reason must not reach the caller"
    assert _denials(reason) == before + 1, "the reason is counted in the metric"


def _hs256_signed_with(secret: str) -> str:
    """Signed by hand: PyJWT itself refuses a JWK as an HMAC key, an attacker does not."""
    now = int(time.time())

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    body = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "iat": now, "exp": now + 600,
                           "roles": ["admin"]}).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def test_a_rotated_key_is_fetched_once_and_an_unknown_key_is_refused(incidents_api: Any, jwks: Jwks) -> None:
    assert _get(incidents_api, jwks.token("k1", roles=["ioc-dispatcher"])).code() == grpc.StatusCode.NOT_FOUND
    fetched = jwks.fetches
    # The provider rotates: a new key, published after the service cached the set.
    jwks.new_key("k2")
    error = _get(incidents_api, jwks.token("k2", roles=["ioc-dispatcher"]))
    assert error is not None and error.code() == grpc.StatusCode.NOT_FOUND, error
    assert jwks.fetches == fetched + 1, "an unknown kid refetches the key set once"
    # A key the provider never published (same shape, made-up kid): refused, and made-up kids do
    # not turn into a request to the provider each.
    jwks.new_key("rogue", publish=False)
    before = _denials("unknown_key")
    for _ in range(3):
        error = _get(incidents_api, jwks.token("rogue", roles=["ioc-operator"]))
        assert error is not None and error.code() == grpc.StatusCode.UNAUTHENTICATED, error
        assert error.details() == auth.GENERIC_AUTH_MESSAGE
    assert _denials("unknown_key") == before + 3
    assert jwks.fetches <= fetched + 2


@pytest.fixture(scope="module")
def gateway(kafka_broker: KafkaBroker, jwks: Jwks, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real gateway process, trusting the same identity provider."""
    run_dir = tmp_path_factory.mktemp("identity-gateway")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")},
        "CITYOPS_JWT_SECRET": Settings().jwt_secret,
        "CITYOPS_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "CITYOPS_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}.",
        "CITYOPS_HTTP_PORT": str(port),
        "CITYOPS_METRICS_PORT": str(free_port()),
        "CITYOPS_DATA_DIR": str(run_dir / "data"),
        "CITYOPS_JWT_JWKS_URL": jwks.url,
        **IDP_ENV,
    }
    log_file = run_dir / "gateway.log"
    proc = spawn(cli_argv("serve", "gateway"), log_file=log_file, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/healthz", proc, log_file)
        yield base
    finally:
        terminate(proc, 15, 20.0)


def _wait_http(url: str, proc: Any, log_file: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gateway exited {proc.returncode}:\n{tail(log_file)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"gateway not ready:\n{tail(log_file)}")


def test_the_console_accepts_the_provider_token_and_refuses_others_without_saying_why(
    gateway: str, jwks: Jwks
) -> None:
    me = httpx.get(f"{gateway}/api/me", headers={"Authorization": f"Bearer {jwks.token('k1', roles=['ioc-operator'])}"})
    assert me.status_code == 200, me.text
    assert me.json() == {"subject": "nguyen.van.a", "roles": ["operator"]}
    refused = {
        "wrong_audience": jwks.token("k1", roles=["ioc-operator"], audience="another-app"),
        "wrong_issuer": jwks.token("k1", roles=["ioc-operator"], issuer="https://evil.example/"),
        "expired": jwks.token("k1", roles=["ioc-operator"], ttl=-120),
        "garbage": "not-a-jwt",
    }
    bodies = set()
    for case, token in refused.items():
        response = httpx.get(f"{gateway}/api/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (case, response.text)
        bodies.add(response.text)
    assert len(bodies) == 1, f"one generic answer for every reason, got {bodies}"
    text = bodies.pop().lower()
    for word in ("audience", "issuer", "expired", "signature", "decode", "segments"):
        assert word not in text
