"""Wards on the real stack: a report with a pre-2025 address gets its current ward; lists filter by
ward (and the deprecated district filter still means the area a pre-2025 client meant); the
open-incident gauge is labelled by ward."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import grpc
import pytest

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_devtools.testing import status_details
from cityops_incidents.incidents import metrics

from .conftest import TDM, Api, report_request

pytestmark = pytest.mark.integration
LAI_THIEU = "25966"
THU_DAU_MOT = "25747"
DI_AN_POINT = (10.9034, 106.759)


async def test_old_address_gets_the_new_ward_and_lists_filter_by_ward(api: Api) -> None:
    tag = uuid.uuid4().hex[:8]
    # The caller gives the address the old way; the point (approximate, from the call-taker's map)
    # falls in Thủ Dầu Một. The named ward wins: Lái Thiêu of the former Thuận An.
    old = await api.stub.ReportIncident(report_request(
        description=f"Ngập nước trước chợ {tag}", category=pb.CATEGORY_FLOOD,
        address="Đường Nguyễn Văn Tiết, phường Lái Thiêu, thị xã Thuận An, tỉnh Bình Dương"), metadata=api.md())
    assert (old.incident.ward_code, old.incident.ward_name) == (LAI_THIEU, "Phường Lái Thiêu")
    assert old.incident.district == "Phường Lái Thiêu"
    # Only the point: its unit.
    tdm = await api.stub.ReportIncident(report_request(description=f"Ổ gà {tag}"), metadata=api.md())
    assert tdm.incident.ward_code == THU_DAU_MOT
    # A former district alone is refined by the point.
    di_an = await api.stub.ReportIncident(report_request(
        description=f"Cây đổ {tag}", lat=DI_AN_POINT[0], lon=DI_AN_POINT[1], address="Dĩ An, Bình Dương"),
        metadata=api.md())
    assert di_an.incident.ward_name == "Phường Dĩ An"

    got = await api.stub.GetIncident(pb.GetIncidentRequest(id=old.incident.id), metadata=api.md())
    assert got.ward_code == LAI_THIEU  # stored, not only answered

    async def listed(**kwargs: object) -> set[str]:
        reply = await api.stub.ListIncidents(pb.ListIncidentsRequest(text=tag, **kwargs), metadata=api.md())
        return {i.id for i in reply.incidents}

    assert await listed() == {old.incident.id, tdm.incident.id, di_an.incident.id}
    assert await listed(ward_codes=[LAI_THIEU]) == {old.incident.id}
    assert await listed(ward_codes=[LAI_THIEU, THU_DAU_MOT]) == {old.incident.id, tdm.incident.id}
    # the deprecated filter: a former district means every unit it became
    assert await listed(district="Thuận An") == {old.incident.id}
    assert await listed(district="Thành phố Dĩ An") == {di_an.incident.id}
    assert await listed(district="Phường Thủ Dầu Một") == {tdm.incident.id}
    assert await listed(district="Nowhere") == set()


async def test_an_unknown_ward_code_is_invalid_argument_naming_the_field(api: Api) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await api.stub.ListIncidents(pb.ListIncidentsRequest(ward_codes=[LAI_THIEU, "99999"]), metadata=api.md())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = dict(status_details(err.value))
    assert "ward_codes[1]" in fields and "phường/xã" in fields["ward_codes[1]"]


async def test_open_incident_gauge_is_labelled_by_ward(api: Api, database_url: str) -> None:
    await api.stub.ReportIncident(report_request(
        description="Đèn đường hỏng", address="phường Phú Cường, TP. Thủ Dầu Một", lat=TDM[0], lon=TDM[1]),
        metadata=api.md())
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1,
                                     server_settings={"search_path": "incidents"})
    try:
        assert await metrics.refresh_open(pool) >= 1
    finally:
        await pool.close()
    areas = {s.labels["area"] for m in metrics.OPEN.collect() for s in m.samples}
    assert "Phường Thủ Dầu Một" in areas
    assert not areas & {"Thủ Dầu Một", "Thuận An", "Dĩ An"}  # no 2021 district names


async def test_rows_from_before_the_wards_get_theirs_from_the_backfill(api: Api, database_url: str) -> None:
    import os
    import subprocess
    import sys

    old = await api.stub.ReportIncident(report_request(
        description="Cây đổ", address="phường Phú Cường, TP. Thủ Dầu Một, tỉnh Bình Dương"), metadata=api.md())
    by_point = await api.stub.ReportIncident(report_request(description="Ổ gà", lat=DI_AN_POINT[0],
                                                            lon=DI_AN_POINT[1], address=""), metadata=api.md())
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "incidents"})
    try:
        # as written before migration 120
        await conn.execute("UPDATE incidents SET ward_code = '', ward_name = ''")
        run = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "cityops_platform.cli", "wards", "backfill", "incidents"],
            env={**os.environ, "CITYOPS_DATABASE_URL": database_url}, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert "incidents" in run.stdout and " 2 row(s)" in run.stdout
        rows = {str(r["id"]): (r["ward_code"], r["ward_name"])
                for r in await conn.fetch("SELECT id, ward_code, ward_name FROM incidents")}
    finally:
        await conn.close()
    assert rows[old.incident.id] == (THU_DAU_MOT, "Phường Thủ Dầu Một")  # from its (old-style) address
    assert rows[by_point.incident.id] == ("25942", "Phường Dĩ An")  # from its point
