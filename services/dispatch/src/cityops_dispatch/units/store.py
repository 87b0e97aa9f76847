"""Postgres access for units (schema ``dispatch``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from cityops_dispatch.geo import cell_of
from cityops_dispatch.units.models import Unit, UnitIn, UnitStatus
from cityops_platform.db.rows import from_row
from cityops_platform.geo.admin_units import admin_units

COLUMNS = (
    "id, call_sign, agency, capabilities, unit_type, status, station_id, station_name, station_lat, station_lon, "
    "district, lat, lon, address, h3_cell, heading_deg, speed_kmh, location_updated_at, active_assignment_id, "
    "active_incident_id, version, updated_at, ward_code, ward_name"
)


def ward_at(lat: float, lon: float) -> tuple[str, str]:
    """(code, name) of the commune-level unit at a point; ("", "") outside the city."""
    units = admin_units()
    code = units.locate(lat, lon)
    return code, units.name_of(code)


def to_unit(row: asyncpg.Record) -> Unit:
    return from_row(Unit, row, capabilities=list(row["capabilities"]), status=UnitStatus(row["status"]))


async def get(conn: asyncpg.Connection, unit_id: str, *, for_update: bool = False) -> Unit | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM units WHERE id = $1{lock}", unit_id)
    return to_unit(row) if row else None


async def upsert(conn: asyncpg.Connection, unit_in: UnitIn, *, insert_only: bool = False) -> Unit | None:
    """Insert or update a unit by id; the status only changes when given. None when insert_only skipped it."""
    status = int(unit_in.status) if unit_in.status is not None else None
    conflict = (
        "DO NOTHING"
        if insert_only
        else """DO UPDATE SET call_sign = EXCLUDED.call_sign, agency = EXCLUDED.agency,
            capabilities = EXCLUDED.capabilities, unit_type = EXCLUDED.unit_type,
            status = COALESCE($15::smallint, units.status), station_id = EXCLUDED.station_id,
            station_name = EXCLUDED.station_name, station_lat = EXCLUDED.station_lat,
            station_lon = EXCLUDED.station_lon, district = EXCLUDED.district, lat = EXCLUDED.lat,
            lon = EXCLUDED.lon, address = EXCLUDED.address, h3_cell = EXCLUDED.h3_cell,
            ward_code = EXCLUDED.ward_code, ward_name = EXCLUDED.ward_name, version = units.version + 1,
            updated_at = now()"""
    )
    row = await conn.fetchrow(
        f"""INSERT INTO units (id, call_sign, agency, capabilities, unit_type, status, station_id, station_name,
                station_lat, station_lon, district, lat, lon, address, h3_cell, ward_code, ward_name)
            VALUES ($1, $2, $3, $4, $5, COALESCE($15::smallint, 1), $6, $7, $8, $9, $10, $11, $12, $13, $14,
                    $16, $17)
            ON CONFLICT (id) {conflict}
            RETURNING {COLUMNS}""",
        unit_in.id,
        unit_in.call_sign,
        unit_in.agency,
        unit_in.capabilities,
        unit_in.unit_type,
        unit_in.station_id,
        unit_in.station_name,
        unit_in.station_lat,
        unit_in.station_lon,
        unit_in.district,
        unit_in.lat,
        unit_in.lon,
        unit_in.address,
        cell_of(unit_in.lat, unit_in.lon),
        status,
        *_ward_of_unit(unit_in),
    )
    return to_unit(row) if row else None


def _ward_of_unit(unit_in: UnitIn) -> tuple[str, str]:
    """A unit's ward: of its position, else of its station (a unit parked outside the city)."""
    code, name = ward_at(unit_in.lat, unit_in.lon)
    if not code and unit_in.station_lat is not None and unit_in.station_lon is not None:
        code, name = ward_at(unit_in.station_lat, unit_in.station_lon)
    return code, name


async def set_status(
    conn: asyncpg.Connection,
    unit_id: str,
    status: UnitStatus,
    *,
    assignment_id: str | None,
    incident_id: str | None,
) -> Unit:
    row = await conn.fetchrow(
        f"""UPDATE units SET status = $2, active_assignment_id = $3, active_incident_id = $4,
                version = version + 1, updated_at = now()
            WHERE id = $1 RETURNING {COLUMNS}""",
        unit_id,
        int(status),
        assignment_id,
        incident_id,
    )
    return to_unit(row)


async def set_position(
    conn: asyncpg.Connection,
    unit_id: str,
    *,
    lat: float,
    lon: float,
    address: str | None,
    heading_deg: float,
    speed_kmh: float,
    observed_at: datetime,
) -> Unit | None:
    """Move a unit unless the stored fix is newer (then None: a late, out-of-order fix)."""
    row = await conn.fetchrow(
        f"""UPDATE units SET lat = $2, lon = $3, h3_cell = $4, address = COALESCE($5, address),
                heading_deg = $6, speed_kmh = $7, location_updated_at = $8, version = version + 1,
                updated_at = now(), ward_code = $9, ward_name = $10
            WHERE id = $1 AND (location_updated_at IS NULL OR location_updated_at <= $8)
            RETURNING {COLUMNS}""",
        unit_id,
        lat,
        lon,
        cell_of(lat, lon),
        address,
        heading_deg,
        speed_kmh,
        observed_at,
        *ward_at(lat, lon),
    )
    return to_unit(row) if row else None


@dataclass(frozen=True)
class Placed:
    """What ranking needs of an AVAILABLE unit; the full row is read only for the few ranked best."""

    id: str
    capabilities: list[str]
    unit_type: str
    lat: float
    lon: float


_PLACED = "id, capabilities, unit_type, lat, lon"


def _placed(rows: Iterable[asyncpg.Record]) -> list[Placed]:
    return [Placed(r["id"], r["capabilities"], r["unit_type"], r["lat"], r["lon"]) for r in rows]


async def available_in_cells(
    conn: asyncpg.Connection, cells: Iterable[int], capabilities: Sequence[str], exclude: Sequence[str]
) -> list[Placed]:
    """AVAILABLE units in the given H3 cells with any of ``capabilities`` (uses the partial cell index)."""
    rows = await conn.fetch(
        f"""SELECT {_PLACED} FROM units
            WHERE status = 1 AND h3_cell = ANY($1::bigint[]) AND capabilities && $2::text[]
              AND NOT (id = ANY($3::text[]))""",
        list(cells),
        list(capabilities),
        list(exclude),
    )
    return _placed(rows)


async def available_anywhere(
    conn: asyncpg.Connection, capabilities: Sequence[str], exclude: Sequence[str]
) -> list[Placed]:
    """Every AVAILABLE unit with any of ``capabilities`` (the partial index on AVAILABLE units)."""
    rows = await conn.fetch(
        f"""SELECT {_PLACED} FROM units
            WHERE status = 1 AND capabilities && $1::text[] AND NOT (id = ANY($2::text[]))""",
        list(capabilities),
        list(exclude),
    )
    return _placed(rows)


async def get_many(conn: asyncpg.Connection, unit_ids: Sequence[str]) -> dict[str, Unit]:
    """The units of ``unit_ids`` that exist, by id (one statement)."""
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM units WHERE id = ANY($1::text[])", list(unit_ids))
    return {r["id"]: to_unit(r) for r in rows}


async def list_units(
    conn: asyncpg.Connection,
    *,
    agencies: Sequence[str],
    statuses: Sequence[int],
    capability: str,
    district: str,
    after_id: str,
    ward_codes: Sequence[str] = (),
    limit: int,
) -> list[Unit]:
    clauses = ["id > $1"]
    args: list[Any] = [after_id]
    if agencies:
        args.append(list(agencies))
        clauses.append(f"agency = ANY(${len(args)}::text[])")
    if statuses:
        args.append(list(statuses))
        clauses.append(f"status = ANY(${len(args)}::smallint[])")
    if capability:
        args.append(capability)
        clauses.append(f"${len(args)} = ANY(capabilities)")
    wards = list(ward_codes)
    if district:  # deprecated: a ward code or name, or a former district (the units it became)
        wards += admin_units().filter_codes(district) or ["-"]
    if wards:
        args.append(wards)
        clauses.append(f"ward_code = ANY(${len(args)}::text[])")
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM units WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ${len(args)}", *args
    )
    return [to_unit(r) for r in rows]


async def count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM units"))
