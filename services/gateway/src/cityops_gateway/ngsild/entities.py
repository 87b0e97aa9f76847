"""Incidents and sensors as NGSI-LD entities of Smart Data Models types (pure functions).

- an incident of the public Open311 catalog → ``Alert`` (dataModel.Alert): category and
  subCategory from the data model's lists, severity from the priority, the service's name as
  description, the point and the district; **no free text** (a citizen's description or typed
  address may hold a phone number) and no reporter data;
- a sensor → a ``Device`` and, for water level / rainfall / PM2.5, a ``WaterObserved`` or
  ``AirQualityObserved`` with its latest reading (``refDevice`` to the Device).
"""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from cityops.incidents.v1 import incidents_pb2 as ipb
from cityops.sensors.v1 import sensors_pb2 as spb
from cityops_gateway.open311.catalog import Open311Service, incident_category
from cityops_gateway.sensorkinds import KINDS
from cityops_platform import codecs
from cityops_platform.city import current_city

SDM_CONTEXT = "https://smartdatamodels.org/context.jsonld"
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
TYPES = ("Alert", "Device", "WaterObserved", "AirQualityObserved")
# Full type IRIs (as the Smart Data Models context expands the short names).
TYPE_IRIS = {
    "https://smartdatamodels.org/dataModel.Alert/Alert": "Alert",
    "https://smartdatamodels.org/dataModel.Device/Device": "Device",
    "https://smartdatamodels.org/dataModel.Environment/WaterObserved": "WaterObserved",
    "https://smartdatamodels.org/dataModel.Environment/AirQualityObserved": "AirQualityObserved",
}
SEVERITY = {ipb.PRIORITY_P1: "critical", ipb.PRIORITY_P2: "high", ipb.PRIORITY_P3: "medium", ipb.PRIORITY_P4: "low"}
# (Alert.category, Alert.subCategory) by incident subcategory, then by incident category.
ALERT_BY_SUBCATEGORY: dict[str, tuple[str, str]] = {
    "o_ga_mat_duong": ("traffic", "pothole"),
    "cay_xanh_gay_do": ("traffic", "hazardOnRoad"),
    "den_tin_hieu_hong": ("traffic", "hazardOnRoad"),
    "va_cham_nhe": ("traffic", "carAccident"),
    "ngap_duong": ("naturalDisaster", "flood"),
    "tac_cong_thoat_nuoc": ("naturalDisaster", "flood"),
    "o_nhiem_khong_khi": ("environment", "airPollution"),
    "o_nhiem_nguon_nuoc": ("environment", "waterPollution"),
    "mat_trat_tu_cong_cong": ("security", "civilDisorder"),
}
# By category: the city's data (city.yaml ``ngsi_alert``).
ALERT_BY_CATEGORY: dict[str, str] = {c.code: c.ngsi_alert for c in current_city().categories if c.ngsi_alert}
CLOSED = {ipb.STATUS_RESOLVED, ipb.STATUS_CLOSED, ipb.STATUS_CANCELLED, ipb.STATUS_DUPLICATE}
# Device.controlledProperty (the data model's list) by sensor kind.
CONTROLLED = {
    spb.SENSOR_KIND_WATER_LEVEL: "depth", spb.SENSOR_KIND_RAINFALL: "precipitation",
    spb.SENSOR_KIND_AIR_QUALITY_PM25: "airPollution", spb.SENSOR_KIND_TRAFFIC_SPEED: "trafficFlow",
    spb.SENSOR_KIND_SMOKE: "smoke", spb.SENSOR_KIND_TEMPERATURE: "temperature", spb.SENSOR_KIND_NOISE: "noiseLevel",
}


def alert_id(number: str) -> str:
    return f"urn:ngsi-ld:Alert:{number}"


def device_id(sensor_id: str) -> str:
    return f"urn:ngsi-ld:Device:{sensor_id}"


def observed_id(kind_type: str, sensor_id: str) -> str:
    return f"urn:ngsi-ld:{kind_type}:{sensor_id}"


def _prop(value: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **extra}


def _when(ts: Timestamp) -> str | None:
    if not codecs.is_set(ts):
        return None
    return codecs.from_timestamp(ts).isoformat(timespec="seconds").replace("+00:00", "Z")


def _date(ts: Timestamp) -> dict[str, Any] | None:
    value = _when(ts)
    return _prop({"@type": "DateTime", "@value": value}) if value else None


def _point(lat: float, lon: float) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def alert(incident: ipb.Incident, service: Open311Service) -> dict[str, Any]:
    """The public Alert of an incident (normalized NGSI-LD form)."""
    by_category = ALERT_BY_CATEGORY.get(incident_category(incident), "")
    category, sub = ALERT_BY_SUBCATEGORY.get(incident.subcategory, (by_category, ""))
    body: dict[str, Any] = {"id": alert_id(incident.number or incident.id), "type": "Alert"}
    if category:
        body["category"] = _prop(category)
    if sub:
        body["subCategory"] = _prop(sub)
    if incident.priority in SEVERITY:
        body["severity"] = _prop(SEVERITY[incident.priority])
    languages = current_city().languages
    names = list(dict.fromkeys(service.name(lang) for lang in languages))
    body["name"] = _prop(names[0])
    body["description"] = _prop(f"{names[0]} ({names[1]})" if len(names) > 1 else names[0])
    body["alertSource"] = _prop("CityOps IOC")
    valid_from = incident.occurred_at if _when(incident.occurred_at) else incident.created_at
    for name, ts in (("dateIssued", incident.created_at), ("validFrom", valid_from)):
        if (value := _date(ts)) is not None:
            body[name] = value
    if incident.status in CLOSED:
        end = incident.closed_at if _when(incident.closed_at) else incident.resolved_at
        if (value := _date(end) or _date(incident.updated_at)) is not None:
            body["validTo"] = value
    if incident.external_ids.get("open311_location") != "unlocated":
        body["location"] = _point(incident.location.lat, incident.location.lon)
    if incident.district:
        body["address"] = _prop({"addressLocality": incident.district})
    return body


def device(sensor: spb.Sensor) -> dict[str, Any]:
    info = KINDS[sensor.kind]
    body: dict[str, Any] = {
        "id": device_id(sensor.id), "type": "Device",
        "name": _prop(sensor.name or sensor.id),
        "category": _prop(["sensor"]),
        "controlledProperty": _prop([CONTROLLED[sensor.kind]]),
        "deviceState": _prop(spb.SensorStatus.Name(sensor.status).removeprefix("SENSOR_STATUS_").lower()),
        "location": _point(sensor.location.lat, sensor.location.lon),
    }
    if _when(sensor.last_seen_at):
        body["value"] = _prop(f"{sensor.last_value:g} {info.symbol}")
        body["dateLastValueReported"] = _date(sensor.last_seen_at)
    if sensor.district:
        body["address"] = _prop({"addressLocality": sensor.district})
    return body


def observed(sensor: spb.Sensor) -> dict[str, Any] | None:
    """The WaterObserved / AirQualityObserved of a sensor, or None for kinds without one."""
    info = KINDS[sensor.kind]
    if not info.ngsi_type:
        return None
    body: dict[str, Any] = {"id": observed_id(info.ngsi_type, sensor.id), "type": info.ngsi_type,
                            "location": _point(sensor.location.lat, sensor.location.lon),
                            "refDevice": {"type": "Relationship", "object": device_id(sensor.id)}}
    observed_at = _when(sensor.last_seen_at)
    if observed_at:
        body[info.ngsi_property] = _prop(sensor.last_value, unitCode=info.cefact, observedAt=observed_at)
        body["dateObserved"] = _date(sensor.last_seen_at)
    if sensor.district:
        body["address"] = _prop({"addressLocality": sensor.district})
    return body


def key_values(entity: dict[str, Any]) -> dict[str, Any]:
    """The simplified (``options=keyValues``) form."""
    out: dict[str, Any] = {}
    for name, attr in entity.items():
        if name in ("id", "type", "@context") or not isinstance(attr, dict):
            out[name] = attr
        elif attr.get("type") == "Relationship":
            out[name] = attr["object"]
        else:
            value = attr.get("value")
            out[name] = value["@value"] if isinstance(value, dict) and "@value" in value else value
    return out


def parse_type(raw: str) -> str | None:
    name = TYPE_IRIS.get(raw, raw)
    return name if name in TYPES else None

