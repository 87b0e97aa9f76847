"""Give rows written before the ward columns existed their ward (``cityops wards backfill``).

Migrations 120-122 add ``ward_code``/``ward_name`` to incidents, units and sensors with an empty
default; SQL cannot place a point in the city's polygons, so this fills them from Python, in
batches, by id. It only writes rows whose ``ward_code`` is still empty (a row a service wrote
meanwhile is left alone), emits no event and does not bump versions: it is a data migration of the
service's own schema, run with that service's database credentials. A row outside every unit stays
empty. Run it again at any time: it is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from cityops_platform.geo.admin_units import AdminUnits


@dataclass(frozen=True)
class Target:
    schema: str
    table: str
    address: str = ""  # a column with the free-text address (incidents), "" when none


TARGETS = {
    "incidents": Target("incidents", "incidents", "address"),
    "dispatch": Target("dispatch", "units"),
    "sensors": Target("sensors", "sensors"),
}


async def backfill(pool: asyncpg.Pool, target: Target, units: AdminUnits, *, batch: int = 500) -> int:
    """Fill the ward of every row of ``target`` that has none; returns how many rows were set."""
    address = f", {target.address}" if target.address else ""
    select = (f"SELECT id::text AS id, lat, lon{address} FROM {target.table} "
              f"WHERE ward_code = '' AND id::text > $1 ORDER BY id::text LIMIT $2")
    update = (f"UPDATE {target.table} SET ward_code = $2, ward_name = $3 "
              f"WHERE id::text = $1 AND ward_code = ''")
    done, last = 0, ""
    while True:
        rows = await pool.fetch(select, last, batch)
        if not rows:
            return done
        last = rows[-1]["id"]
        values = []
        for r in rows:
            code, _ = units.assign(r["lat"], r["lon"], r[target.address] if target.address else "")
            if code:
                values.append((r["id"], code, units.name_of(code)))
        if values:
            await pool.executemany(update, values)
            done += len(values)
