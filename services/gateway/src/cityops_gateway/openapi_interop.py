"""OpenAPI for the standards the gateway speaks: Open311 in XML as well as JSON, its discovery
document, the CAP feed, SensorThings v1.1 and NGSI-LD. ``extend`` adds them to the document
``openapi.build_openapi`` writes (and the schemathesis run checks every one of them)."""

from __future__ import annotations

import copy
from typing import Any

XML = {"text/xml": {"schema": {"type": "string"}}}
STA_SETS = ["Things", "Locations", "Datastreams", "Sensors", "ObservedProperties", "Observations"]


def _q(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _h(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "description": description, "schema": {"type": "string"}}


def _path(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string", "minLength": 1}}


def _resp(description: str, content: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, **({"content": content} if content else {})}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _as_xml(operation: dict[str, Any]) -> dict[str, Any]:
    """The same operation at ``.xml``: every response body is GeoReport XML."""
    op = copy.deepcopy(operation)
    op["summary"] = f"{op['summary']} — XML"
    for response in op["responses"].values():
        if "content" in response:
            response["content"] = copy.deepcopy(XML)
    if "requestBody" in op:
        op["requestBody"]["content"].pop("application/json", None)
    return op


JURISDICTION = _q("jurisdiction_id", "the city's jurisdiction (its open311_endpoint.yaml); another one is a 404")


def _open311(paths: dict[str, Any], schemas: dict[str, Any]) -> None:
    prefix = "/open311/v2"
    errors = {"type": "array", "items": {"$ref": "#/components/schemas/Open311Error"}}
    for path in [p for p in list(paths) if p.startswith(prefix) and p.endswith(".json")]:
        for operation in paths[path].values():
            operation.setdefault("parameters", []).append(JURISDICTION)
            operation["responses"].setdefault("404", _resp("not found (service_code, jurisdiction_id)",
                                                           _json(errors)))
            operation["responses"].setdefault("400", _resp("invalid request", _json(errors)))
        paths[path[:-len(".json")] + ".xml"] = {m: _as_xml(op) for m, op in paths[path].items()}
    discovery = {"type": "object", "required": ["changeset", "contact", "key_service", "endpoints"],
                 "properties": {"changeset": {"type": "string"}, "contact": {"type": "string"},
                                "key_service": {"type": "string"},
                                "endpoints": {"type": "array", "items": {"type": "object", "properties": {
                                    "specification": {"type": "string"}, "url": {"type": "string"},
                                    "changeset": {"type": "string"},
                                    "type": {"type": "string", "enum": ["production", "test"]},
                                    "formats": {"type": "array", "items": {"type": "string"}}}}}}}
    for base in ("/open311", prefix):
        paths[f"{base}/discovery.json"] = {"get": {
            "summary": "Service Discovery (GeoReport v2)", "tags": ["open311"],
            "responses": {"200": _resp("discovery", _json(discovery))}}}
        paths[f"{base}/discovery.xml"] = {"get": {
            "summary": "Service Discovery (GeoReport v2) — XML", "tags": ["open311"],
            "responses": {"200": _resp("discovery", copy.deepcopy(XML))}}}
    request_in = schemas["ServiceRequestIn"]
    request_in["required"] = ["api_key", "service_code"]
    request_in["description"] = "A location is lat & long, or address_string, or address_id."
    request_in["properties"].update({
        "address_id": {"type": "string", "maxLength": 64, "description": "an id of the city's gazetteer"},
        "jurisdiction_id": {"type": "string"},
        "attribute": {"type": "object", "description": "JSON: answers to the service definition, code → value(s)",
                      "additionalProperties": True},
    })
    for name in ("lat", "long"):
        schemas["ServiceRequest"]["properties"][name] = {"type": "number", "nullable": True,
                                                         "description": "null when the address was not found"}
    schemas["ServiceDefinition"]["properties"]["attributes"]["items"] = {
        "type": "object", "required": ["variable", "code", "datatype", "required", "order", "description"],
        "properties": {"variable": {"type": "boolean"}, "code": {"type": "string"},
                       "datatype": {"type": "string", "enum": ["string", "number", "datetime", "text",
                                                               "singlevaluelist", "multivaluelist"]},
                       "required": {"type": "boolean"}, "datatype_description": {"type": "string", "nullable": True},
                       "order": {"type": "integer", "minimum": 1}, "description": {"type": "string"},
                       "values": {"type": "array", "items": {"type": "object", "properties": {
                           "key": {"type": "string"}, "name": {"type": "string"}}}}}}


def _cap(paths: dict[str, Any]) -> None:
    conditional = [_h("If-None-Match", "an ETag from a previous answer"),
                   _h("If-Modified-Since", "an HTTP date (Last-Modified of a previous answer)")]
    text = {"text/plain": {"schema": {"type": "string"}}}
    paths["/cap/alerts.atom"] = {"get": {
        "summary": "Cảnh báo công cộng CAP (Atom feed of published public CAP alerts, newest first)",
        "tags": ["cap"], "parameters": conditional,
        "responses": {"200": _resp("Atom feed", {"application/atom+xml": {"schema": {"type": "string"}}}),
                      "304": _resp("not modified"), "503": _resp("notifications unavailable", text)}}}
    paths["/cap/alerts/{identifier}.xml"] = {"get": {
        "summary": "One published public alert as CAP 1.2 XML", "tags": ["cap"],
        "parameters": [_path("identifier"), *conditional],
        "responses": {"200": _resp("CAP 1.2", {"application/cap+xml": {"schema": {"type": "string"}}}),
                      "304": _resp("not modified"), "404": _resp("no such public alert", text),
                      "503": _resp("notifications unavailable", text)}}}


def _sta(paths: dict[str, Any]) -> None:
    error = _json({"type": "object", "required": ["code", "message"],
                   "properties": {"code": {"type": "integer"}, "type": {"type": "string"},
                                  "message": {"type": "string"}}})
    body = _json({"type": "object", "additionalProperties": True})
    options = [_q("$top", "page size (default 100, at most 1000)", {"type": "integer", "minimum": 0}),
               _q("$skip", "entities to skip", {"type": "integer", "minimum": 0}),
               _q("$count", "true adds @iot.count", {"type": "string", "enum": ["true", "false"]}),
               _q("$orderby", "e.g. phenomenonTime desc"),
               _q("$filter", "Observations: phenomenonTime/resultTime/result eq|ne|gt|ge|lt|le …, and/or/not")]
    responses = {"200": _resp("OK", body), "400": _resp("unsupported query", error),
                 "404": _resp("not found", error), "503": _resp("sensors unavailable", error)}
    paths["/sta/v1.1"] = {"get": {"summary": "SensorThings v1.1 service root", "tags": ["sta"],
                                  "responses": {"200": _resp("entity sets", body)}}}
    paths["/sta/v1.1/{entitySet}"] = {"get": {
        "summary": "SensorThings entity set", "tags": ["sta"],
        "parameters": [_path("entitySet", {"type": "string", "enum": STA_SETS}), *options],
        "responses": copy.deepcopy(responses)}}
    paths["/sta/v1.1/Things({id})"] = {"get": {
        "summary": "One Thing (id quoted: Things('wl-001'))", "tags": ["sta"], "parameters": [_path("id")],
        "responses": copy.deepcopy(responses)}}
    paths["/sta/v1.1/Datastreams({id})/Observations"] = {"get": {
        "summary": "Observations of a Datastream (1-minute means)", "tags": ["sta"],
        "parameters": [_path("id"), *options], "responses": copy.deepcopy(responses)}}


def _ngsi(paths: dict[str, Any]) -> None:
    error = _json({"type": "object", "required": ["type", "title"],
                   "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                                  "detail": {"type": "string"}}})
    entity = {"type": "object", "required": ["id", "type"], "additionalProperties": True,
              "properties": {"id": {"type": "string"}, "type": {"type": "string"}}}
    ok = {"application/json": {"schema": {"type": "array", "items": entity}},
          "application/ld+json": {"schema": {"type": "array", "items": entity}}}
    paths["/ngsi-ld/v1/entities"] = {"get": {
        "summary": "NGSI-LD entities: Alert, Device, WaterObserved, AirQualityObserved", "tags": ["ngsi-ld"],
        "parameters": [_q("type", "comma-separated entity types"), _q("id", "comma-separated entity ids"),
                       _q("limit", "default 20, at most 1000", {"type": "integer", "minimum": 0, "maximum": 1000}),
                       _q("offset", "entities to skip", {"type": "integer", "minimum": 0}),
                       _q("count", "true adds NGSILD-Results-Count", {"type": "string", "enum": ["true", "false"]}),
                       _q("options", "keyValues or normalized")],
        "responses": {"200": _resp("entities", ok), "400": _resp("bad request", error),
                      "503": _resp("a service is unavailable", error)}}}
    paths["/ngsi-ld/v1/entities/{entityId}"] = {"get": {
        "summary": "One NGSI-LD entity", "tags": ["ngsi-ld"],
        "parameters": [_path("entityId"), _q("options", "keyValues or normalized")],
        "responses": {"200": _resp("entity", {"application/json": {"schema": entity},
                                              "application/ld+json": {"schema": entity}}),
                      "400": _resp("bad request", error), "404": _resp("not found", error),
                      "503": _resp("a service is unavailable", error)}}}
    paths["/ngsi-ld/context.jsonld"] = {"get": {
        "summary": "The JSON-LD @context of the entities", "tags": ["ngsi-ld"],
        "responses": {"200": _resp("context", {"application/ld+json": {"schema": {"type": "object"}}})}}}


def extend(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the interop routes to the gateway's OpenAPI document (in place; returns it)."""
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    _open311(paths, schemas)
    _cap(paths)
    _sta(paths)
    _ngsi(paths)
    return doc
