"""``free_port``: a port planned now and bound later must not be one the kernel gives away meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityops_devtools.devstack import _process
from cityops_devtools.devstack._process import free_port


def _ephemeral() -> range:
    low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    return range(low, high + 1)


def test_planned_ports_are_never_in_the_range_outgoing_connections_take() -> None:
    ephemeral = _ephemeral()
    ports = [free_port() for _ in range(200)]
    assert not [p for p in ports if p in ephemeral]
    assert all(1024 < p < 65536 for p in ports)


def test_a_port_is_handed_out_once_per_process_even_while_nothing_binds_it() -> None:
    ports = [free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)


def test_a_port_something_listens_on_is_skipped(monkeypatch: pytest.MonkeyPatch, busy_port: int) -> None:
    # the cursor points at the listening port, seen as if it were inside the window
    monkeypatch.setattr(_process, "_planning_window", lambda: range(busy_port, busy_port + 50))
    monkeypatch.setattr(_process, "_ports_cursor", [0])
    port = free_port()
    assert port != busy_port and busy_port < port < busy_port + 50


def test_a_free_preferred_port_is_kept() -> None:
    preferred = free_port()
    assert free_port(preferred) == preferred


def test_a_kept_preferred_port_is_not_planned_again(monkeypatch: pytest.MonkeyPatch) -> None:
    window = _process._planning_window()
    monkeypatch.setattr(_process, "_ports_issued", set())
    monkeypatch.setattr(_process, "_ports_cursor", [0])
    preferred = next(p for p in window if _process.port_is_free(p))
    assert free_port(preferred) == preferred
    monkeypatch.setattr(_process, "_ports_cursor", [window.index(preferred)])  # the walk starts right at it
    assert free_port() != preferred


def test_an_exhausted_window_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, busy_port: int) -> None:
    monkeypatch.setattr(_process, "_planning_window", lambda: range(busy_port, busy_port + 1))
    with pytest.raises(OSError, match=f"no free loopback port in {busy_port}-{busy_port}"):
        free_port()
