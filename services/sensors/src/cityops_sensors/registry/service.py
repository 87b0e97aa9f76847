"""Registry rules: what a valid sensor is, registering (idempotent upsert by id) and listing."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Protocol

from cityops_platform.codecs import decode_page_token, encode_page_token
from cityops_platform.errors import FieldViolation, NotFound, PermissionDenied, require
from cityops_platform.geo import coordinate_violations
from cityops_platform.geo.admin_units import admin_units, ward_violation_text
from cityops_sensors.registry.models import KIND_NAMES, STATUSES, Sensor, SensorFilter, kind_specs

SENSOR_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_PAGE = 1000


class SensorStorePort(Protocol):
    async def upsert(self, s: Sensor, *, gateway: str | None = None) -> Sensor | None: ...
    async def get(self, sensor_id: str) -> Sensor | None: ...
    async def search(self, flt: SensorFilter) -> list[Sensor]: ...


def validate_sensor(sensor_in: Sensor) -> Sensor:
    """Check every field (``sensor.<path>`` in violations) and set the kind's unit."""
    v: list[FieldViolation] = []
    if not SENSOR_ID_RE.match(sensor_in.id):
        v.append(FieldViolation("sensor.id", "bắt buộc, [A-Za-z0-9._-]{1,64} (required)"))
    if sensor_in.kind not in KIND_NAMES:
        v.append(FieldViolation("sensor.kind", "bắt buộc, loại cảm biến hợp lệ (required: a known kind)"))
    v.extend(coordinate_violations(sensor_in.lat, sensor_in.lon, "sensor.location"))
    if sensor_in.lat == 0 and sensor_in.lon == 0:
        v.append(FieldViolation("sensor.location", "bắt buộc (required)"))
    if len(sensor_in.address) > 300:
        v.append(FieldViolation("sensor.location.address", "tối đa 300 ký tự (at most 300 characters)"))
    if len(sensor_in.district) > 100:  # deprecated and optional: the ward comes from the location
        v.append(FieldViolation("sensor.district", "tối đa 100 ký tự (at most 100 characters)"))
    if not 1 <= sensor_in.reporting_interval_seconds <= 86400:
        v.append(FieldViolation("sensor.reporting_interval_seconds", "từ 1 đến 86400 giây (1..86400 s)"))
    if len(sensor_in.name) > 200:
        v.append(FieldViolation("sensor.name", "tối đa 200 ký tự (at most 200 characters)"))
    if len(sensor_in.labels) > 50 or any(len(k) > 64 or len(x) > 256 for k, x in sensor_in.labels.items()):
        v.append(FieldViolation("sensor.labels", "tối đa 50 nhãn, khóa ≤64, giá trị ≤256 (≤ 50 labels)"))
    require(v)
    units = admin_units()
    ward = units.locate(sensor_in.lat, sensor_in.lon)
    return replace(sensor_in, unit=kind_specs()[sensor_in.kind].unit, district=sensor_in.district.strip(),
                   ward_code=ward, ward_name=units.name_of(ward))


async def register_sensor(sensor_in: Sensor, *, store: SensorStorePort, gateway: str | None = None) -> Sensor:
    """Create or update a sensor by id; registering the same sensor twice changes nothing.

    ``gateway``: the caller is a sensor gateway bound to this id; it owns what it creates and may
    not change a sensor it does not own (PermissionDenied)."""
    sensor = await store.upsert(validate_sensor(sensor_in), gateway=gateway)
    if sensor is None:
        raise PermissionDenied(
            f"cảm biến '{sensor_in.id[:64]}' thuộc cổng khác (the sensor belongs to another gateway)"
        )
    return sensor


async def get_sensor(sensor_id: str, *, store: SensorStorePort) -> Sensor:
    sensor = await store.get(sensor_id) if sensor_id else None
    if sensor is None:
        raise NotFound("sensor", sensor_id)
    return sensor


def encode_token(last_id: str) -> str:
    return encode_page_token(last_id)


def decode_token(token: str) -> str:
    return next(iter(decode_page_token(token, 1)), "")


async def list_sensors(
    kinds: tuple[str, ...], statuses: tuple[str, ...], district: str, page_size: int, page_token: str,
    *, store: SensorStorePort, ward_codes: tuple[str, ...] = (),
) -> tuple[list[Sensor], str]:
    """One page of sensors ordered by id, and the token of the next page ("" at the end)."""
    v: list[FieldViolation] = []
    if any(k not in KIND_NAMES for k in kinds):
        v.append(FieldViolation("kinds", "loại không hợp lệ (unknown kind)"))
    if any(s not in STATUSES for s in statuses):
        v.append(FieldViolation("statuses", "trạng thái không hợp lệ (unknown status)"))
    if page_size < 0 or page_size > MAX_PAGE:
        v.append(FieldViolation("page_size", f"từ 0 đến {MAX_PAGE} (0..{MAX_PAGE})"))
    units = admin_units()
    v += [FieldViolation(f"ward_codes[{i}]", ward_violation_text())
          for i, code in enumerate(ward_codes) if units.get(code) is None]
    require(v)
    size = page_size or 100
    after = decode_token(page_token)
    wards = tuple(ward_codes)
    if district.strip():
        wards += tuple(units.filter_codes(district) or ["-"])
    sensors = await store.search(SensorFilter(kinds, statuses, "", size + 1, after, wards))
    if len(sensors) > size:
        sensors = sensors[:size]
        return sensors, encode_token(sensors[-1].id)
    return sensors, ""
