"""The city's agencies (city.yaml), stations and units (dispatch/units.yaml), seeded idempotently."""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg

from cityops_dispatch import events
from cityops_dispatch.units import store
from cityops_dispatch.units.models import UnitIn
from cityops_platform.city import current_city

log = logging.getLogger("cityops.dispatch.seed")


def agency_value(code: str) -> str:
    """``code`` when the city's registry holds it (a typo in units.yaml fails at seeding)."""
    known = current_city().agency_codes
    if code not in known:
        raise ValueError(f"units.yaml: unknown agency {code!r} (the city's codes: {', '.join(known)})")
    return code


def units_from_data(data: dict[str, Any]) -> list[UnitIn]:
    """Every unit of every station, positioned at its station."""
    out = []
    for station in data.get("stations", []):
        for unit in station.get("units", []):
            out.append(
                UnitIn(
                    id=str(unit["id"]),
                    call_sign=str(unit["call_sign"]),
                    agency=agency_value(str(station["agency"])),
                    capabilities=[str(c) for c in unit["capabilities"]],
                    unit_type=str(unit["unit_type"]),
                    lat=float(station["lat"]),
                    lon=float(station["lon"]),
                    address=str(station.get("address", "")),
                    station_id=str(station["id"]),
                    station_name=str(station["name"]),
                    station_lat=float(station["lat"]),
                    station_lon=float(station["lon"]),
                    district=str(station["district"]),
                )
            )
    return out


async def seed(conn: asyncpg.Connection, data: dict[str, Any], *, only_if_empty: bool = True) -> int:
    """Insert the default data; existing rows are never overwritten. Returns the number of units inserted.

    With ``only_if_empty`` nothing happens once any unit exists, so a city that edited or removed
    default units keeps its changes across restarts.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('cityops.dispatch.seed'))")
    if only_if_empty and await store.count(conn) > 0:
        return 0
    for agency in current_city().agencies:
        await conn.execute(
            """INSERT INTO agencies (code, names, phone) VALUES ($1, $2::jsonb, $3) ON CONFLICT DO NOTHING""",
            agency.code, json.dumps(agency.names, ensure_ascii=False), agency.phone,
        )
    for station in data.get("stations", []):
        await conn.execute(
            """INSERT INTO stations (id, name, agency, district, lat, lon, address) VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT DO NOTHING""",
            str(station["id"]),
            str(station["name"]),
            agency_value(str(station["agency"])),
            str(station["district"]),
            float(station["lat"]),
            float(station["lon"]),
            str(station.get("address", "")),
        )
    inserted = 0
    for unit_in in units_from_data(data):
        unit = await store.upsert(conn, unit_in, insert_only=True)
        if unit is not None:
            inserted += 1
            await events.unit_status(conn, unit)
    log.info("default units seeded", extra={"units": inserted})
    return inserted
