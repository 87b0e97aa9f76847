"""netguard.post over real TLS: connected to the checked address, the certificate is still verified against
the URL's name (SNI), so pinning the address neither breaks HTTPS nor weakens it."""

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

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers["Host"])
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner, port = await serve_http(app, ssl_context=server_ctx)
    try:
        yield {"port": port, "seen": seen, "ca": cert_file}
    finally:
        await runner.cleanup()


async def _resolve(host: str, port: int) -> list[str]:
    return ["127.0.0.1"] if host == NAME else []


async def test_https_to_the_pinned_address_verifies_the_certificate_of_the_name(tls_receiver: dict[str, Any]) -> None:
    ctx = ssl.create_default_context(cafile=str(tls_receiver["ca"]))
    allow = netguard.parse_allow("127.0.0.1/32")
    async with httpx.AsyncClient(verify=ctx) as client:
        response = await netguard.post(client, f"https://{NAME}:{tls_receiver['port']}/hook", allow=allow,
                                       resolve=_resolve, content=b"{}")
        assert response.status_code == 200
        assert tls_receiver["seen"] == [f"{NAME}:{tls_receiver['port']}"]
        # The same address without the name: the certificate does not match, so it is refused.
        with pytest.raises(httpx.ConnectError):
            await netguard.post(client, f"https://127.0.0.1:{tls_receiver['port']}/hook", allow=allow,
                                content=b"{}")
    assert len(tls_receiver["seen"]) == 1
