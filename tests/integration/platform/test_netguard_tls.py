"""netguard.post over real TLS and plain HTTP: connected to the checked address, the certificate is still
verified against the URL's name (SNI), so pinning the address neither breaks HTTPS nor weakens it; and a
connection is kept alive for the next request to the same name only, never lent to another name that
resolves to the same address (its certificate was verified for the first)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cityops_devtools.testing import serve_http
from cityops_platform import netguard

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]
NAME = "cad.tls.invalid"  # exists only in the test's resolver


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest_asyncio.fixture
async def tls_receiver(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    cert_file, key_file = _certificate(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_file, key_file)
    seen: list[str] = []
    peers: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers["Host"])
        peers.append(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner, port = await serve_http(app, ssl_context=server_ctx)
    try:
        yield {"port": port, "seen": seen, "peers": peers, "ca": cert_file}
    finally:
        await runner.cleanup()


async def _resolve(host: str, port: int) -> list[str]:
    return ["127.0.0.1"] if host == NAME else []


async def test_https_to_the_pinned_address_verifies_the_certificate_of_the_name(tls_receiver: dict[str, Any]) -> None:
    ctx = ssl.create_default_context(cafile=str(tls_receiver["ca"]))
    allow = netguard.parse_allow("127.0.0.1/32")
    clients = netguard.PinnedClients(lambda: httpx.AsyncClient(verify=ctx))
    try:
        for _ in range(3):
            response = await netguard.post(clients, f"https://{NAME}:{tls_receiver['port']}/hook", allow=allow,
                                           resolve=_resolve, content=b"{}")
            assert response.status_code == 200
        assert tls_receiver["seen"] == [f"{NAME}:{tls_receiver['port']}"] * 3
        assert len(set(tls_receiver["peers"])) == 1, tls_receiver["peers"]  # one TLS connection, kept alive
        # The same address without the name: the certificate does not match, so it is refused, although
        # a verified connection to that very address is open and idle (it belongs to NAME only).
        with pytest.raises(httpx.ConnectError):
            await netguard.post(clients, f"https://127.0.0.1:{tls_receiver['port']}/hook", allow=allow,
                                content=b"{}")
    finally:
        await clients.aclose()
    assert len(tls_receiver["seen"]) == 3


@pytest_asyncio.fixture
async def http_receiver() -> AsyncIterator[dict[str, Any]]:
    peers: list[tuple[str, int]] = []

    async def handle(request: web.Request) -> web.Response:
        peers.append((request.headers["Host"].split(":")[0], request.transport.get_extra_info("peername")[1]))  # type: ignore[union-attr]
        size = int(request.query.get("body", "2"))
        return web.Response(body=b"x" * size)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner, port = await serve_http(app)
    try:
        yield {"port": port, "peers": peers}
    finally:
        await runner.cleanup()


async def _two_names(host: str, port: int) -> list[str]:
    return ["127.0.0.1"] if host in ("a.hook.invalid", "b.hook.invalid") else []


async def test_a_connection_is_kept_for_its_own_name_and_a_large_body_is_not_read(
    http_receiver: dict[str, Any],
) -> None:
    allow = netguard.parse_allow("127.0.0.1/32")
    port = http_receiver["port"]
    clients = netguard.PinnedClients(lambda: httpx.AsyncClient(follow_redirects=False), most=2)

    async def post(name: str, body: int = 2) -> int:
        response = await netguard.post(clients, f"http://{name}:{port}/hook?body={body}", allow=allow,
                                       resolve=_two_names, content=b"{}")
        return response.status_code

    def connections(name: str) -> list[int]:
        return list(dict.fromkeys(peer for host, peer in http_receiver["peers"] if host == name))

    try:
        assert [await post("a.hook.invalid") for _ in range(3)] == [200] * 3
        assert len(connections("a.hook.invalid")) == 1  # no handshake per request
        assert await post("b.hook.invalid") == 200
        assert len(connections("b.hook.invalid")) == 1
        assert not set(connections("a.hook.invalid")) & set(connections("b.hook.invalid"))  # never lent
        # A body beyond the drain limit is not read: the status stands, the connection is closed.
        assert await post("a.hook.invalid", body=netguard.DRAIN_LIMIT_BYTES * 4) == 200
        assert await post("a.hook.invalid") == 200
        assert len(connections("a.hook.invalid")) == 2
        # At most `most` clients: a third name closes the least recently used one (b's), not a's.
        assert await post("127.0.0.1") == 200
        assert len(clients) == 2
        assert await post("a.hook.invalid") == 200
        assert len(connections("a.hook.invalid")) == 2
        assert await post("b.hook.invalid") == 200
        assert len(connections("b.hook.invalid")) == 2
    finally:
        await clients.aclose()
    assert len(clients) == 0
