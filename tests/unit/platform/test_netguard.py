"""The public-address rule of outbound calls (cityops_platform.netguard): the issue's examples and more."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from cityops_platform import netguard

REFUSED = [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00:ec2::254]/",  # unique-local (EC2 metadata over IPv6)
    "http://2852039166/",  # dword form of 169.254.169.254
    "http://0xa9fea9fe/",  # hex form of 169.254.169.254
    "http://0251.0376.0251.0376/",  # octal form
    "http://0xa9.0xfe.0xa9.0xfe/",  # dotted hex
    "http://169.254.43518/",  # short form
    "http://127.0.0.1:8080/",
    "http://127.1/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://[::1]/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # CGNAT
    "http://100.127.255.254/",
    "http://[fe80::1]/",  # IPv6 link-local
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]/",  # IPv4-mapped loopback, hex spelling
    "http://[2002:a9fe:a9fe::]/",  # 6to4 of the metadata address
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",
    "http://255.255.255.255/",
    "http://198.18.0.1/",  # benchmarking
    "http://192.0.2.10/",  # documentation
    "ftp://8.8.8.8/",
    "http://user:pw@8.8.8.8/",
]
ACCEPTED = ["https://8.8.8.8/hook", "http://1.1.1.1:8443/x", "https://[2606:4700:4700::1111]/x",
            "https://172.32.0.1/", "https://100.128.0.1/", "https://169.255.0.1/"]


@pytest.mark.parametrize("url", REFUSED)
def test_non_public_literals_and_numeric_forms_are_refused(url: str) -> None:
    with pytest.raises(netguard.UnsafeAddress):
        netguard.check_url(url)


@pytest.mark.parametrize("url", ACCEPTED)
def test_public_literals_pass(url: str) -> None:
    host, port = netguard.check_url(url)
    assert host and port in (80, 443, 8443)


def test_the_allow_list_is_the_only_exception_and_is_exact() -> None:
    allow = netguard.parse_allow("127.0.0.1/32, ::1/128")
    assert netguard.check_url("http://127.0.0.1:9/x", allow) == ("127.0.0.1", 9)
    assert netguard.check_url("http://[::1]:9/x", allow) == ("::1", 9)
    for still_refused in ("http://127.0.0.2/", "http://169.254.169.254/", "http://2130706433/"):
        with pytest.raises(netguard.UnsafeAddress):
            netguard.check_url(still_refused, allow)
    assert netguard.parse_allow("") == ()
    with pytest.raises(ValueError):
        netguard.parse_allow("not-a-cidr")


def test_the_default_allow_list_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITYOPS_OUTBOUND_ALLOW_CIDRS", raising=False)
    assert netguard.OutboundSettings().outbound_allow_cidrs == ""


def _resolver(answers: dict[str, list[str]]) -> netguard.Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError("NXDOMAIN")
        return answers[host]
    return resolve


@pytest.mark.parametrize("records", [["10.0.0.5"], ["8.8.8.8", "169.254.169.254"], ["::ffff:10.0.0.1"],
                                     ["fd12::1"], ["100.64.1.1"]])
def test_a_name_is_refused_when_any_of_its_addresses_is_not_public(records: list[str]) -> None:
    resolve = _resolver({"cad.example.vn": records})
    with pytest.raises(netguard.UnsafeAddress):
        asyncio.run(netguard.resolve_public("https://cad.example.vn/hook", resolve=resolve))


def test_a_public_name_gives_the_checked_address_to_connect_to() -> None:
    resolve = _resolver({"cad.example.vn": ["203.162.4.191", "2001:ee0::1"]})
    host, port, ip = asyncio.run(netguard.resolve_public("https://cad.example.vn/hook", resolve=resolve))
    assert (host, port, ip) == ("cad.example.vn", 443, ipaddress.ip_address("203.162.4.191"))


def test_a_name_that_does_not_resolve_is_an_oserror_not_a_refusal() -> None:
    with pytest.raises(OSError):
        asyncio.run(netguard.resolve_public("https://nowhere.example.vn/", resolve=_resolver({})))
