"""``cityops rules replay`` against real Postgres: reports recorded by the real api (real Kafka
and Postgres), replayed by the real CLI process through a candidate rules file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import yaml

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents.rules import raw_default_rules

from .conftest import TDM, Api, report_request


def _replay(api: Api, rules: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CITYOPS_DATABASE_URL": api.settings.database_url, "CITYOPS_LOG_LEVEL": "WARNING"}
    env.pop("CITYOPS_INCIDENTS_RULES_FILE", None)
    return subprocess.run([sys.executable, "-m", "cityops_platform.cli", "rules", "replay", "--rules", str(rules),
                           *extra], env=env, capture_output=True, text=True, timeout=120, check=False)


def _value(out: str, label: str) -> str:
    [line] = [ln for ln in out.splitlines() if ln.startswith(label)]
    return line[len(label):].split()[0]


def _row(out: str, label: str) -> list[str]:
    [line] = [ln for ln in out.splitlines() if ln.startswith(label)]
    return line[len(label):].split()


async def test_replay_prints_what_a_candidate_rules_file_would_change(api: Api, tmp_path: Path) -> None:
    md = api.md("call_taker")
    lat, lon = TDM
    light = await api.stub.ReportIncident(report_request(
        subcategory="den_hong", description="Đèn đường không sáng ở hẻm 45", lat=lat + 0.02, lon=lon), metadata=md)
    flood = await api.stub.ReportIncident(report_request(
        category=pb.CATEGORY_FLOOD, subcategory="ngap_duong", description="Đường ngập 20 cm trước chợ",
        lat=lat - 0.02, lon=lon), metadata=md)
    first = await api.stub.ReportIncident(report_request(
        description="Ổ gà lớn giữa đường", lat=lat, lon=lon), metadata=md)
    second = await api.stub.ReportIncident(report_request(   # about 100 m away: merged today
        description="Ổ gà to, xe máy suýt ngã", lat=lat + 0.0009, lon=lon), metadata=md)
    assert second.merged and second.incident.id == first.incident.id
    assert light.incident.agency != 0 and flood.incident.priority == pb.PRIORITY_P3

    raw = raw_default_rules()
    raw["routing"]["subcategories"]["den_duong_hong"] = "PUBLIC_WORKS"   # agency: 1 report changes
    raw["fusion"]["categories"]["FIELD_REPORT"]["radius_m"] = 10        # fusion: the second report splits off
    raw["triage"]["base"]["FLOOD"] = "P2"                               # priority: the flood report P3 → P2
    raw["sla"]["default"]["P2"]["acknowledge"] = "1s"                   # SLA: the P2 flood is not acknowledged
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    await asyncio.sleep(1.5)

    done = await asyncio.to_thread(_replay, api, candidate, "--since", "1h")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "4 phản ánh (reports)" in out.splitlines()[0]
    assert _value(out, "phản ánh đổi cơ quan (agency changed):") == "1"
    assert "UTILITIES→PUBLIC_WORKS: 1" in out
    assert _value(out, "phản ánh đổi hợp nhất (fusion changed):") == "1"
    assert _row(out, "sự cố sau hợp nhất (incidents after fusion)") == ["3", "4", "+1"]
    assert _value(out, "phản ánh đổi ưu tiên (priority changed):") == "1"
    assert "P3→P2: 1" in out
    assert _row(out, "trễ hạn SLA tiếp nhận (SLA acknowledge breaches)") == ["0", "1", "+1"]
    assert flood.incident.number in out and light.incident.number in out  # the changed reports are listed
    assert "đã phát lại (replayed) 4/4 (100%)" in done.stderr             # progress

    # The window is honoured: nothing was reported in the last second.
    await asyncio.sleep(1.1)
    empty = await asyncio.to_thread(_replay, api, candidate, "--since", "1s")
    assert empty.returncode == 0, empty.stderr
    assert "0 phản ánh (reports)" in empty.stdout.splitlines()[0]


async def test_replay_refuses_an_invalid_candidate_with_exit_code_2(api: Api, tmp_path: Path) -> None:
    raw = raw_default_rules()
    raw["routing"]["categories"]["FIRE"] = "FIRE_BRIGADE"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    done = await asyncio.to_thread(_replay, api, bad)
    assert done.returncode == 2
    assert "FIRE_BRIGADE" in done.stderr
