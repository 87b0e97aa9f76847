"""TLS and mutual TLS for gRPC, configured through CITYOPS_GRPC_TLS_* and tested with a CA that the
test makes with the openssl CLI. Server: runtime.start_grpc; client: grpc.client.create_channel."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cityops_platform import auth
from cityops_platform.grpc.client import create_channel
from cityops_platform.grpc.server import RunningServer
from cityops_platform.runtime import Resources, start_grpc
from cityops_platform.settings import Settings


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "1", "-subj", f"/CN=CityOps test {name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=d)


def _leaf(d: Path, name: str, ca: str, usage: str) -> None:
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    (d / f"{name}.ext").write_text(
        f"subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-out", f"{name}.crt", "-days", "1", "-extfile", f"{name}.ext", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca: the city's CA; rogue: another CA; server, client (signed by ca), intruder (signed by rogue)."""
    if shutil.which("openssl") is None:
        message = "openssl CLI missing (apt-get install openssl)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    d = tmp_path_factory.mktemp("pki")
    _ca(d, "ca")
    _ca(d, "rogue")
    _leaf(d, "server", "ca", "serverAuth")
    _leaf(d, "client", "ca", "clientAuth")
    _leaf(d, "intruder", "rogue", "clientAuth")
    return d


async def _serve(monkeypatch: pytest.MonkeyPatch, pki: Path, *, mutual: bool) -> RunningServer:
    # Configured the way a deployment does it: environment variables read by Settings.
    monkeypatch.setenv("CITYOPS_GRPC_TLS_CERT", str(pki / "server.crt"))
    monkeypatch.setenv("CITYOPS_GRPC_TLS_KEY", str(pki / "server.key"))
    if mutual:
        monkeypatch.setenv("CITYOPS_GRPC_TLS_CLIENT_CA", str(pki / "ca.crt"))
    else:
        monkeypatch.delenv("CITYOPS_GRPC_TLS_CLIENT_CA", raising=False)
    settings = Settings(grpc_host="127.0.0.1")
    res = Resources(service="incidents", settings=settings)
    return await start_grpc("incidents", settings, res, build=lambda _: [], policy=auth.AccessPolicy({}), port=0)


@pytest.fixture
async def tls_server(monkeypatch: pytest.MonkeyPatch, pki: Path) -> AsyncIterator[RunningServer]:
    running = await _serve(monkeypatch, pki, mutual=False)
    yield running
    await running.stop(0)


@pytest.fixture
async def mtls_server(monkeypatch: pytest.MonkeyPatch, pki: Path) -> AsyncIterator[RunningServer]:
    running = await _serve(monkeypatch, pki, mutual=True)
    yield running
    await running.stop(0)


async def _check(channel: grpc.aio.Channel) -> grpc.StatusCode:
    async with channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    return grpc.StatusCode.OK


def _client(pki: Path, running: RunningServer, cert: str | None = None, ca: str = "ca") -> grpc.aio.Channel:
    settings = Settings(
        grpc_tls_server_ca=str(pki / f"{ca}.crt"),
        grpc_tls_client_cert=str(pki / f"{cert}.crt") if cert else None,
        grpc_tls_client_key=str(pki / f"{cert}.key") if cert else None,
        grpc_tls_cert=None, grpc_tls_key=None,
    )
    return create_channel(f"127.0.0.1:{running.port}", settings)


async def test_tls_server_serves_a_client_that_trusts_its_ca(tls_server: RunningServer, pki: Path) -> None:
    assert await _check(_client(pki, tls_server)) == grpc.StatusCode.OK


async def test_tls_server_refuses_plaintext(tls_server: RunningServer) -> None:
    assert await _check(grpc.aio.insecure_channel(f"127.0.0.1:{tls_server.port}")) == grpc.StatusCode.UNAVAILABLE


async def test_client_refuses_a_server_whose_certificate_it_does_not_trust(
    tls_server: RunningServer, pki: Path
) -> None:
    assert await _check(_client(pki, tls_server, ca="rogue")) == grpc.StatusCode.UNAVAILABLE


async def test_mtls_server_refuses_a_client_without_a_certificate(mtls_server: RunningServer, pki: Path) -> None:
    assert await _check(_client(pki, mtls_server)) == grpc.StatusCode.UNAVAILABLE


async def test_mtls_server_refuses_a_client_certificate_from_another_ca(mtls_server: RunningServer, pki: Path) -> None:
    assert await _check(_client(pki, mtls_server, cert="intruder")) == grpc.StatusCode.UNAVAILABLE


async def test_mtls_server_serves_a_client_certificate_signed_by_the_ca(mtls_server: RunningServer, pki: Path) -> None:
    assert await _check(_client(pki, mtls_server, cert="client")) == grpc.StatusCode.OK


async def test_mtls_server_refuses_plaintext(mtls_server: RunningServer) -> None:
    assert await _check(grpc.aio.insecure_channel(f"127.0.0.1:{mtls_server.port}")) == grpc.StatusCode.UNAVAILABLE
