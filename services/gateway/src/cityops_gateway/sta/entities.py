"""CityOps sensors as OGC SensorThings API v1.1 entities (pure functions, no network).

One CityOps sensor is one Thing at one Location with one Datastream; its kind gives the STA
Sensor (the procedure) and the ObservedProperty; each 1-minute aggregate of the sensors
service is one Observation (result = the window's mean, phenomenonTime = the window as an
ISO 8601 interval, parameters = count/min/max). Only public-safe fields are shown: the
sensor's free ``labels`` are not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from cityops.sensors.v1 import sensors_pb2 as spb
from cityops_gateway.sensorkinds import BY_KEY, KINDS, KindInfo
from cityops_platform import codecs

OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
GEOJSON = "application/geo+json"


def key_literal(ident: str) -> str:
    """An id in a resource path: ``Things('wl-001')`` (quotes doubled, as OData does)."""
    return "'" + ident.replace("'", "''") + "'"


def link(base: str, entity_set: str, ident: str, nav: str = "") -> str:
    path = f"{base}/{entity_set}({quote(key_literal(ident), safe=chr(39) + ':-._~')})"
    return f"{path}/{nav}" if nav else path


def entity(base: str, entity_set: str, ident: str, body: dict[str, Any], *navigations: str) -> dict[str, Any]:
    """An entity as SensorThings shows it: ``@iot.id`` and ``@iot.selfLink``, then ``body``, then a
    ``<Name>@iot.navigationLink`` per related entity or set named in ``navigations``."""
    return {
        "@iot.id": ident,
        "@iot.selfLink": link(base, entity_set, ident),
        **body,
        **{f"{nav}@iot.navigationLink": link(base, entity_set, ident, nav) for nav in navigations},
    }


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _kind(sensor: spb.Sensor) -> KindInfo:
    info = KINDS.get(sensor.kind)
    if info is None:
        raise KeyError(f"sensor {sensor.id} has no known kind")
    return info


def thing(sensor: spb.Sensor, base: str) -> dict[str, Any]:
    info = _kind(sensor)
    return entity(base, "Things", sensor.id, {
        "name": sensor.name or sensor.id,
        "description": f"Trạm đo {info.name_vi.lower()} ({info.name_en.lower()} station)"
                       + (f", {sensor.district}" if sensor.district else ""),
        "properties": {
            "kind": info.key,
            "district": sensor.district or None,
            "status": spb.SensorStatus.Name(sensor.status).removeprefix("SENSOR_STATUS_").lower(),
            "reportingIntervalSeconds": sensor.reporting_interval_seconds or None,
        },
    }, "Locations", "Datastreams")


def location(sensor: spb.Sensor, base: str) -> dict[str, Any]:
    return entity(base, "Locations", sensor.id, {
        "name": sensor.location.address or sensor.district or sensor.id,
        "description": f"Vị trí trạm {sensor.name or sensor.id} (station location)",
        "encodingType": GEOJSON,
        "location": {"type": "Point", "coordinates": [sensor.location.lon, sensor.location.lat]},
    }, "Things")


def datastream(sensor: spb.Sensor, base: str) -> dict[str, Any]:
    info = _kind(sensor)
    return entity(base, "Datastreams", sensor.id, {
        "name": f"{info.name_vi} — {sensor.name or sensor.id}",
        "description": f"{info.name_vi}, trung bình mỗi phút ({info.name_en}, 1-minute means)",
        "observationType": OM_MEASUREMENT,
        "unitOfMeasurement": {"name": info.unit_name, "symbol": info.symbol, "definition": info.qudt},
        "properties": {"aggregation": "mean", "windowSeconds": 60},
    }, "Thing", "Sensor", "ObservedProperty", "Observations")


def sta_sensor(info: KindInfo, base: str) -> dict[str, Any]:
    return entity(base, "Sensors", info.key, {
        "name": f"Cảm biến {info.name_vi.lower()} ({info.name_en} sensor)",
        "description": f"Cảm biến {info.name_vi.lower()} của mạng IOC; đơn vị {info.symbol}",
        "encodingType": "text/plain",
        "metadata": f"CityOps sensor kind {info.key}, unit {info.symbol}",
    }, "Datastreams")


def observed_property(info: KindInfo, base: str) -> dict[str, Any]:
    return entity(base, "ObservedProperties", info.key, {
        "name": f"{info.name_vi} ({info.name_en})",
        "definition": f"urn:cityops:sensor-kind:{info.key}",
        "description": f"{info.name_en}, in {info.unit_name}",
    }, "Datastreams")


def kind_by_key(key: str) -> tuple[int, KindInfo] | None:
    return BY_KEY.get(key)


def observation_id(sensor_id: str, window_start: datetime) -> str:
    return f"{sensor_id}:{int(window_start.timestamp())}"


def parse_observation_id(ident: str) -> tuple[str, datetime] | None:
    sensor_id, sep, seconds = ident.rpartition(":")
    if not sep or not sensor_id or not seconds.isdigit() or len(seconds) > 11:
        return None
    return sensor_id, datetime.fromtimestamp(int(seconds), UTC)


def observation(sensor_id: str, point: spb.Aggregate, base: str) -> dict[str, Any]:
    start = codecs.from_timestamp(point.window_start)
    end = start + timedelta(seconds=point.window_seconds or 60)
    ident = observation_id(sensor_id, start)
    return entity(base, "Observations", ident, {
        "phenomenonTime": f"{iso(start)}/{iso(end)}",
        "resultTime": iso(end),
        "result": point.mean,
        "parameters": {"count": point.count, "min": point.min, "max": point.max},
    }, "Datastream")


def observation_values(obs: dict[str, Any]) -> dict[str, Any]:
    """The filterable values of an observation (phenomenonTime = the start of its interval)."""
    start = datetime.fromisoformat(obs["phenomenonTime"].split("/")[0].replace("Z", "+00:00"))
    end = datetime.fromisoformat(obs["resultTime"].replace("Z", "+00:00"))
    return {"phenomenonTime": start, "resultTime": end, "result": obs["result"]}
