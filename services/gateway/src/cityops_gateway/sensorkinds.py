"""What each sensor kind measures, for the public data views (SensorThings, NGSI-LD).

Units are given as the symbol, a QUDT unit URI (SensorThings ``unitOfMeasurement.definition``)
and the UN/CEFACT common code (NGSI-LD ``unitCode``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cityops.sensors.v1 import sensors_pb2 as spb


@dataclass(frozen=True)
class KindInfo:
    key: str  # "water_level"
    name_vi: str
    name_en: str
    unit_name: str
    symbol: str
    qudt: str
    cefact: str
    ngsi_type: str  # Smart Data Models type of the observed entity ("" = only a Device)
    ngsi_property: str  # the attribute of that type that carries the value


KINDS: dict[int, KindInfo] = {
    spb.SENSOR_KIND_WATER_LEVEL: KindInfo("water_level", "Mực nước", "Water level", "centimetre", "cm",
                                          "http://qudt.org/vocab/unit/CentiM", "CMT", "WaterObserved", "height"),
    spb.SENSOR_KIND_RAINFALL: KindInfo("rainfall", "Lượng mưa", "Rainfall", "millimetre per hour", "mm/h",
                                       "http://qudt.org/vocab/unit/MilliM-PER-HR", "H67", "WaterObserved",
                                       "precipitation"),
    spb.SENSOR_KIND_AIR_QUALITY_PM25: KindInfo("pm25", "Bụi mịn PM2.5", "PM2.5", "microgram per cubic metre",
                                               "µg/m³", "http://qudt.org/vocab/unit/MicroGM-PER-M3", "GQ",
                                               "AirQualityObserved", "pm25"),
    spb.SENSOR_KIND_TRAFFIC_SPEED: KindInfo("traffic_speed", "Tốc độ giao thông", "Traffic speed",
                                            "kilometre per hour", "km/h", "http://qudt.org/vocab/unit/KiloM-PER-HR",
                                            "KMH", "", ""),
    spb.SENSOR_KIND_SMOKE: KindInfo("smoke", "Khói", "Smoke", "detection (0 or 1)", "1",
                                    "http://qudt.org/vocab/unit/UNITLESS", "C62", "", ""),
    spb.SENSOR_KIND_TEMPERATURE: KindInfo("temperature", "Nhiệt độ", "Temperature", "degree Celsius", "°C",
                                          "http://qudt.org/vocab/unit/DEG_C", "CEL", "", ""),
    spb.SENSOR_KIND_NOISE: KindInfo("noise", "Tiếng ồn", "Noise", "decibel (A-weighted)", "dB(A)",
                                    "http://qudt.org/vocab/unit/DeciB", "2N", "", ""),
}
BY_KEY = {k.key: (value, k) for value, k in KINDS.items()}


def kind_info(kind: int) -> KindInfo | None:
    return KINDS.get(kind)
