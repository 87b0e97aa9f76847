"""Outbound HTTP to addresses a user (or a partner file) names: only to public addresses, checked at the
moment of connecting.

Guarantees:
- a host is refused unless every address it resolves to is public: loopback, private (10/8, 172.16/12,
  192.168/16), link-local (169.254/16, metadata 169.254.169.254, fe80::/10), CGNAT 100.64/10, unique-local
  fc00::/7, multicast, unspecified, reserved, documentation ranges and IPv4-mapped/-translated IPv6 of any
  of those are all refused (``ipaddress``'s ``is_global`` plus explicit ranges);
- numeric host forms other than dotted-quad IPv4 and bracketed IPv6 (``2852039166``, ``0xa9fea9fe``,
  ``0251.0376.0251.0376``, ``169.254.1``) are refused outright: resolvers and browsers read them differently;
- ``post`` resolves the name once, checks every address, then connects to the checked address with the
  name in the Host header and as TLS SNI / certificate name: a name that re-resolves elsewhere (DNS rebinding)
  is never followed;
- connections are kept alive only within one target name (``PinnedClients``: one client per scheme, name
  and port): a connection opened to an address, and whose certificate was verified, for one name never
  carries a request for another name that resolves to the same address; a response body is read (to
  free the connection) only up to ``DRAIN_LIMIT_BYTES`` within ``DRAIN_TIMEOUT_S`` and dropped unread
  beyond, closing the connection;
- the only exception is an explicit allow-list of CIDRs (``CITYOPS_OUTBOUND_ALLOW_CIDRS``), empty by
  default; the local devstack and the test launchers set it to ``127.0.0.0/8`` for their loopback receivers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict

from cityops_platform.bounded import LruMap

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
RESOLVE_TIMEOUT_S = 5.0  # a slow resolver is a failed resolution (temporary at send, refused at subscribe)

# Refused even where ``is_global`` might say otherwise (CGNAT is not global; listed for clarity).
_REFUSED: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b::/96", "2002::/16",
))
_DOTTED_QUAD = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
_NUMERIC_LOOKING = re.compile(r"^(0x[0-9a-f]+|\d+)(\.(0x[0-9a-f]*|\d+))*\.?$", re.IGNORECASE)


class UnsafeAddress(ValueError):
    """The target is not a public address (or not a URL we post to); the message is safe to show."""


class OutboundSettings(BaseSettings):
    """``CITYOPS_OUTBOUND_ALLOW_CIDRS``: comma-separated CIDRs outbound calls may reach although not public."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_", extra="ignore")

    outbound_allow_cidrs: str = ""


def parse_allow(value: str | Iterable[str]) -> tuple[Network, ...]:
    """The networks of an allow-list setting (``"127.0.0.0/8, ::1/128"``); raises ValueError on a bad CIDR."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())


def _unwrap(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
    return ip


def address_problem(ip: IPAddress, allow: tuple[Network, ...] = ()) -> str | None:
    """Why ``ip`` may not be reached (None when it may)."""
    if any(ip.version == n.version and ip in n for n in allow):
        return None
    inner = _unwrap(ip)
    if inner is not ip and any(inner.version == n.version and inner in n for n in allow):
        return None
    for candidate in {ip, inner}:
        if any(candidate.version == n.version and candidate in n for n in _REFUSED) or not candidate.is_global:
            return f"địa chỉ không công khai {ip} (not a public address)"
    return None


def literal_of(host: str) -> IPAddress | None:
    """The IP address a URL host spells, None for a name; raises UnsafeAddress on ambiguous numeric forms."""
    bare = host.strip("[]")
    if ":" in bare:
        try:
            return ipaddress.IPv6Address(bare)
        except ValueError as exc:
            raise UnsafeAddress(f"địa chỉ IPv6 không hợp lệ (invalid IPv6 address {host!r})") from exc
    if _DOTTED_QUAD.match(bare):
        return ipaddress.IPv4Address(bare)
    if _NUMERIC_LOOKING.match(bare):
        raise UnsafeAddress(f"dạng địa chỉ số không được chấp nhận (numeric host form {host!r} refused)")
    return None


def check_url(url: str, allow: tuple[Network, ...] = ()) -> tuple[str, int]:
    """(host, port) of an http(s) URL whose literal host (if any) is allowed; raises UnsafeAddress."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeAddress("phải là URL http(s) (must be an http(s) URL)")
    if parts.username or parts.password:
        raise UnsafeAddress("URL không được chứa thông tin đăng nhập (no credentials in the URL)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeAddress("cổng không hợp lệ (invalid port)") from exc
    host = parts.hostname
    literal = literal_of(host)
    if literal is not None:
        problem = address_problem(literal, allow)
        if problem:
            raise UnsafeAddress(problem)
    return host, port


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve_public(
    url: str, allow: tuple[Network, ...] = (), *, resolve: Resolver = system_resolve
) -> tuple[str, int, IPAddress]:
    """(host, port, the checked address to connect to); raises UnsafeAddress (refused) or OSError (DNS failed).

    Every address the name resolves to must pass, not only the first: a name with one public and one
    private record is refused.
    """
    host, port = check_url(url, allow)
    literal = literal_of(host)
    if literal is not None:
        return host, port, literal
    try:
        found = await asyncio.wait_for(resolve(host, port), RESOLVE_TIMEOUT_S)
    except (OSError, UnicodeError, TimeoutError) as exc:
        raise OSError(f"không phân giải được tên (cannot resolve {host!r})") from exc
    if not found:
        raise OSError(f"không phân giải được tên (cannot resolve {host!r})")
    addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
    for ip in addresses:
        problem = address_problem(ip, allow)
        if problem:
            raise UnsafeAddress(f"{host} → {problem}")
    return host, port, addresses[0]


DRAIN_LIMIT_BYTES = 64 * 1024  # a larger response body closes the connection instead of being read
DRAIN_TIMEOUT_S = 1.0  # … and so does one that does not arrive within this


class PinnedClients:
    """The HTTP clients ``post`` sends through: one per target (scheme, name, port), each keeping its
    connections alive, at most ``most`` of them (the least recently used is closed).

    Why one per name: ``post`` connects to the checked address, so a single shared client would pool
    connections by address alone and hand a connection opened (and, over TLS, verified) for one name to
    another name that resolves to the same address. ``make`` builds a client (timeouts, headers,
    ``follow_redirects=False``, TLS settings)."""

    def __init__(self, make: Callable[[], httpx.AsyncClient], *, most: int = 64) -> None:
        self._make = make
        self._clients: LruMap[tuple[str, str, int | None], httpx.AsyncClient] = LruMap(most)

    async def client_for(self, url: str) -> httpx.AsyncClient:
        parts = urlsplit(url)
        key = (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)
        client = self._clients.get(key)
        if client is None:
            client = self._make()
            for dropped in self._clients.put(key, client):
                await dropped.aclose()
        return client

    def __len__(self) -> int:
        return len(self._clients)

    async def aclose(self) -> None:
        for client in self._clients.take_all():
            await client.aclose()


async def _drain(response: httpx.Response) -> None:
    """Read the body to free the connection for the next request, keeping none of it; stop (and so
    close the connection) past DRAIN_LIMIT_BYTES."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_LIMIT_BYTES:
        return
    seen = 0
    async for chunk in response.aiter_raw():
        seen += len(chunk)
        if seen > DRAIN_LIMIT_BYTES:
            return


async def post(
    clients: PinnedClients, url: str, *, allow: tuple[Network, ...] = (), resolve: Resolver = system_resolve,
    **kwargs: Any,
) -> httpx.Response:
    """POST ``url`` through the client ``clients`` keeps for its name, connected to the address checked
    once (see the module docstring). Only the status and headers of the response are for the caller.

    Raises UnsafeAddress when the target is not public, OSError when the name does not resolve, and
    httpx errors as ``client.post`` does. The clients must not follow redirects.
    """
    host, port, ip = await resolve_public(url, allow, resolve=resolve)
    client = await clients.client_for(url)
    parts = urlsplit(url)
    ip_host = f"[{ip}]" if ip.version == 6 else str(ip)
    pinned = urlunsplit((parts.scheme, f"{ip_host}:{port}", parts.path or "/", parts.query, ""))
    default_port = 443 if parts.scheme == "https" else 80
    host_header = host if port == default_port else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if port == default_port else f"[{host}]:{port}"
    headers = {**dict(kwargs.pop("headers", None) or {}), "Host": host_header}
    extensions = {"sni_hostname": host} if parts.scheme == "https" and literal_of(host) is None else {}
    request = client.build_request("POST", pinned, headers=headers, extensions=extensions, **kwargs)
    # Streamed: only the status is used; the body is drained (bounded) and never kept.
    response = await client.send(request, follow_redirects=False, stream=True)
    try:
        await asyncio.wait_for(_drain(response), DRAIN_TIMEOUT_S)
    except (TimeoutError, httpx.HTTPError):
        pass  # the answer's status stands; the connection is closed below instead of reused
    finally:
        await response.aclose()
    return response
