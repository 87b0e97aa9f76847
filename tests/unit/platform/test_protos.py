"""The public contract of /work/shared/design/API.md, checked against the generated descriptors.

Every name here is something a screen, field app, sensor gateway or external CAD is built against:
removing or renaming one must fail this test. Kafka payload round trips: test_proto_payloads.py.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    FieldDescriptor,
    FileDescriptor,
)

ROOT = Path(__file__).resolve().parents[3]
LIBS_SRC = ROOT / "libs" / "src"

DOMAINS = ("incidents", "sensors", "dispatch", "notifications")
FILES = ("resources", "events")


def _import(name: str) -> ModuleType:
    """Import a generated module, generating the code first when the tree has none yet."""
    if str(LIBS_SRC) not in sys.path:
        sys.path.insert(0, str(LIBS_SRC))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_protos.py")], check=True)
        importlib.invalidate_caches()
        return importlib.import_module(name)


def _service_module(domain: str) -> ModuleType:
    return _import(f"cityops.{domain}.v1.{domain}_pb2")


common = _import("cityops.common.v1.common_pb2")

# (domain, service) -> one "Rpc([stream ]Request) -> [stream ]Response" per line.
SERVICES: dict[tuple[str, str], str] = {
    ("incidents", "IncidentService"): """
        ReportIncident(ReportIncidentRequest) -> ReportIncidentResponse
        GetIncident(GetIncidentRequest) -> Incident
        ListIncidents(ListIncidentsRequest) -> ListIncidentsResponse
        TransitionIncident(TransitionIncidentRequest) -> Incident
        AddNote(AddNoteRequest) -> Incident
        GetTimeline(GetTimelineRequest) -> Timeline
        WatchIncidents(WatchIncidentsRequest) -> stream IncidentEvent
        FindNearbyIncidents(FindNearbyIncidentsRequest) -> FindNearbyIncidentsResponse
    """,
    ("sensors", "SensorService"): """
        RegisterSensor(RegisterSensorRequest) -> Sensor
        GetSensor(GetSensorRequest) -> Sensor
        ListSensors(ListSensorsRequest) -> ListSensorsResponse
        IngestReadings(stream ReadingBatch) -> IngestSummary
        PutRule(PutRuleRequest) -> Rule
        ListRules(ListRulesRequest) -> ListRulesResponse
        WatchAlerts(WatchAlertsRequest) -> stream SensorAlert
        GetSeries(GetSeriesRequest) -> GetSeriesResponse
    """,
    ("dispatch", "DispatchService"): """
        RegisterUnit(RegisterUnitRequest) -> Unit
        GetUnit(GetUnitRequest) -> Unit
        UpdateUnitStatus(UpdateUnitStatusRequest) -> Unit
        StreamLocations(stream UnitLocation) -> StreamLocationsSummary
        ListUnits(ListUnitsRequest) -> ListUnitsResponse
        RecommendUnits(RecommendUnitsRequest) -> RecommendUnitsResponse
        AssignUnit(AssignUnitRequest) -> Assignment
        AcknowledgeAssignment(AcknowledgeAssignmentRequest) -> Assignment
        ListAssignments(ListAssignmentsRequest) -> ListAssignmentsResponse
        ExportEido(ExportEidoRequest) -> EidoDocument
        ImportEido(ImportEidoRequest) -> IncidentRef
    """,
    ("notifications", "NotificationService"): """
        CreateSubscription(CreateSubscriptionRequest) -> Subscription
        ListSubscriptions(ListSubscriptionsRequest) -> ListSubscriptionsResponse
        DeleteSubscription(DeleteSubscriptionRequest) -> DeleteSubscriptionResponse
        ListDeliveries(ListDeliveriesRequest) -> ListDeliveriesResponse
        ReplayDelivery(ReplayDeliveryRequest) -> Delivery
        DraftAlert(DraftAlertRequest) -> CapAlert
        ApproveAlert(ApproveAlertRequest) -> CapAlert
        CancelAlert(CancelAlertRequest) -> CapAlert
        UpdateAlert(UpdateAlertRequest) -> CapAlert
        GetAlert(GetAlertRequest) -> CapAlert
        ListAlerts(ListAlertsRequest) -> ListAlertsResponse
    """,
}

# "domain.Message: field field ..." ("common" is cityops.common.v1); indented lines continue.
FIELDS = """
common.GeoPoint: lat lon address
common.Actor: subject role
common.Circle: center radius_m
common.Polygon: points
common.Area: circle polygon
incidents.ReportIncidentRequest: category subcategory description location source reporter idempotency_key
    occurred_at
incidents.ReportIncidentResponse: incident merged
incidents.Reporter: name phone
incidents.GetIncidentRequest: id
incidents.ListIncidentsRequest: statuses categories text page_size page_token
incidents.ListIncidentsResponse: incidents next_page_token
incidents.TransitionIncidentRequest: id to_status reason expected_version
incidents.AddNoteRequest: id text
incidents.GetTimelineRequest: id
incidents.Timeline: entries
incidents.TimelineEntry: at actor action before after detail
incidents.Incident: id number category subcategory priority status description location report_count sources agency
    created_at updated_at sla_due_at version eido_priority escalation_level duplicate_of external_ids
incidents.IncidentEvent: event_id occurred_at incident_id incident_number actor incident
incidents.IncidentMerged: report_count source
incidents.IncidentTransitioned: from_status to_status reason
incidents.IncidentEscalated: reason old_priority new_priority
sensors.RegisterSensorRequest: sensor
sensors.Sensor: id kind location unit district status reporting_interval_seconds name
sensors.ReadingBatch: readings
sensors.Reading: sensor_id value observed_at
sensors.IngestSummary: accepted rejected rejections
sensors.Rejection: sensor_id reason index detail
sensors.Rule: id kind sensor_id warn_level critical_level hysteresis min_duration_seconds direction
    rate_of_change_per_window rate_window_seconds offline_after_intervals
sensors.ReadingRecord: sensor_ids values observed_at_ms ingested_at_ms
sensors.SensorAlert: alert_id sensor_id kind state level rule_type value threshold location district raised_at
    cleared_at observed_at
sensors.Aggregate: sensor_id window_start count min max mean
dispatch.RegisterUnitRequest: unit
dispatch.Unit: id call_sign agency capabilities status location station updated_at active_assignment_id
dispatch.UpdateUnitStatusRequest: unit_id status location
dispatch.RecommendUnitsRequest: incident_id limit
dispatch.RecommendUnitsResponse: candidates
dispatch.Candidate: unit distance_m eta_seconds
dispatch.AssignUnitRequest: incident_id unit_id
dispatch.AcknowledgeAssignmentRequest: assignment_id accept reason
dispatch.ListAssignmentsRequest: incident_id
dispatch.Assignment: id incident_id unit_id status assigned_at acknowledged_at ack_deadline reason auto
dispatch.ExportEidoRequest: incident_id
dispatch.EidoDocument: json
dispatch.ImportEidoRequest: json
dispatch.IncidentRef: incident_id number created
dispatch.DispatchEvent: event_id occurred_at incident_id assignment_id unit_id
dispatch.UnitStatusUpdate: unit
notifications.CreateSubscriptionRequest: subscription
notifications.Subscription: id channel address language secret filter created_at owner
notifications.SubscriptionFilter: event_types categories min_priority area agencies incident_id
notifications.Delivery: id subscription_id event_id status attempts last_error next_attempt_at sent_at channel
notifications.CapAlert: id identifier sender status msg_type references state author approver infos xml sent_at
notifications.CapInfo: language categories event urgency severity certainty headline description instruction area
notifications.CapArea: area_desc polygon circle
notifications.DeliveryEvent: event_id occurred_at delivery
"""

# "domain.Enum: SUFFIX ..." where each value is named <ENUM_PREFIX>_<SUFFIX>.
ENUMS = """
common.Agency: POLICE_113 FIRE_RESCUE_114 MEDICAL_115 PUBLIC_WORKS UTILITIES ENVIRONMENT ADMIN_CENTER
incidents.Category: ADMINISTRATIVE_PROCEDURE FIELD_REPORT EMERGENCY_MEDICAL SECURITY FIRE TRAFFIC_ACCIDENT FLOOD
    ENVIRONMENT UTILITY_OUTAGE OTHER
incidents.Source: HOTLINE_1022 CITIZEN_APP OPEN311 SENSOR CAD_INTEGRATION OPERATOR
incidents.Status: NEW ACKNOWLEDGED DISPATCHED ON_SCENE RESOLVED CLOSED CANCELLED DUPLICATE
incidents.Priority: P1 P2 P3 P4
incidents.EscalationReason: SLA_ACK SLA_DISPATCH SLA_RESOLVE REPORT_COUNT
sensors.SensorKind: WATER_LEVEL RAINFALL AIR_QUALITY_PM25 TRAFFIC_SPEED SMOKE TEMPERATURE NOISE
sensors.SensorStatus: ONLINE OFFLINE ALERTING
sensors.AlertState: RAISED CLEARED
sensors.AlertLevel: WARN CRITICAL
sensors.RuleType: THRESHOLD RATE_OF_CHANGE OFFLINE
sensors.Direction: ABOVE BELOW
dispatch.UnitStatus: AVAILABLE DISPATCHED EN_ROUTE ON_SCENE RETURNING OUT_OF_SERVICE
dispatch.AssignmentStatus: ASSIGNED ACKNOWLEDGED EN_ROUTE ON_SCENE CLEARED DECLINED TIMED_OUT CANCELLED
notifications.Channel: WEBHOOK EMAIL SMS
notifications.DeliveryStatus: PENDING SENT FAILED DEAD_LETTERED
notifications.MsgType: ALERT UPDATE CANCEL
notifications.CapAlertState: DRAFT PUBLISHED CANCELLED
"""

# "domain.Envelope: Body ..." the message types its `oneof body` must hold.
ENVELOPES = """
incidents.IncidentEvent: IncidentReported IncidentMerged IncidentTransitioned IncidentEscalated NoteAdded
    SensorAlertCleared
dispatch.DispatchEvent: UnitAssigned AssignmentAcknowledged AssignmentDeclined AssignmentTimedOut UnitEnRoute
    UnitArrived UnitCleared IncidentAwaitingUnits
"""


def _table(text: str) -> dict[str, tuple[str, ...]]:
    """Parse "key: a b c" lines; an indented line continues the previous key."""
    table: dict[str, tuple[str, ...]] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith(" "):
            table[key] += tuple(line.split())
            continue
        key, _, rest = line.partition(":")
        table[key] = tuple(rest.split())
    return table


RPC_LINE = re.compile(r"^(\w+)\((stream )?(\w+)\) -> (stream )?(\w+)$")


def _rpcs(text: str) -> dict[str, tuple[str, str, bool, bool]]:
    rpcs: dict[str, tuple[str, str, bool, bool]] = {}
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        match = RPC_LINE.match(line)
        assert match is not None, f"bad contract line: {line}"
        name, client_stream, request, server_stream, response = match.groups()
        rpcs[name] = (request, response, bool(client_stream), bool(server_stream))
    return rpcs


def _module(domain: str) -> ModuleType:
    return common if domain == "common" else _service_module(domain)


def _message(qualified: str) -> Descriptor:
    domain, name = qualified.split(".")
    module = _module(domain)
    assert hasattr(module, name), f"missing message {qualified}"
    descriptor: Descriptor = getattr(module, name).DESCRIPTOR
    assert descriptor.full_name == f"cityops.{domain}.v1.{name}"
    return descriptor


def _enum(qualified: str) -> EnumDescriptor:
    domain, name = qualified.split(".")
    wrapper = getattr(_module(domain), name, None)
    assert wrapper is not None, f"missing enum {qualified}"
    descriptor: EnumDescriptor = wrapper.DESCRIPTOR
    return descriptor


def _all_files() -> list[FileDescriptor]:
    files = [common.DESCRIPTOR]
    for domain in DOMAINS:
        files.append(_service_module(domain).DESCRIPTOR)
        files.extend(_import(f"cityops.{domain}.v1.{name}_pb2").DESCRIPTOR for name in FILES)
    return files


def _prefix(enum_name: str) -> str:
    return "".join("_" + c if c.isupper() and i else c for i, c in enumerate(enum_name)).upper()


@pytest.mark.parametrize(("key", "text"), list(SERVICES.items()), ids=[s for _, s in SERVICES])
def test_service_has_every_contract_rpc_with_its_types_and_streaming(key: tuple[str, str], text: str) -> None:
    domain, service_name = key
    rpcs = _rpcs(text)
    assert rpcs, service_name
    module = _service_module(domain)
    service = module.DESCRIPTOR.services_by_name.get(service_name)
    assert service is not None, f"missing service {service_name}"
    assert service.full_name == f"cityops.{domain}.v1.{service_name}"
    grpc_module = _import(f"cityops.{domain}.v1.{domain}_pb2_grpc")
    assert hasattr(grpc_module, f"{service_name}Stub")
    assert hasattr(grpc_module, f"{service_name}Servicer")
    for rpc, (request, response, client_streaming, server_streaming) in rpcs.items():
        method = service.methods_by_name.get(rpc)
        assert method is not None, f"missing rpc {service_name}.{rpc}"
        assert method.input_type.name == request, rpc
        assert method.output_type.name == response, rpc
        assert method.client_streaming is client_streaming, rpc
        assert method.server_streaming is server_streaming, rpc


@pytest.mark.parametrize(("qualified", "fields"), list(_table(FIELDS).items()))
def test_message_has_every_contract_field(qualified: str, fields: tuple[str, ...]) -> None:
    descriptor = _message(qualified)
    missing = [f for f in fields if f not in descriptor.fields_by_name]
    assert not missing, f"{qualified} lacks {missing}"


@pytest.mark.parametrize(("qualified", "values"), list(_table(ENUMS).items()))
def test_enum_has_every_contract_value_with_its_prefix(qualified: str, values: tuple[str, ...]) -> None:
    descriptor = _enum(qualified)
    prefix = _prefix(descriptor.name)
    names = set(descriptor.values_by_name)
    missing = [v for v in values if f"{prefix}_{v}" not in names]
    assert not missing, f"{qualified} lacks {missing}"


def test_every_enum_starts_with_unspecified_zero_and_prefixes_its_values() -> None:
    checked = 0
    for file in _all_files():
        enums = list(file.enum_types_by_name.values())
        for message in file.message_types_by_name.values():
            enums.extend(message.enum_types)
        for enum in enums:
            prefix = _prefix(enum.name)
            zero = enum.values_by_number[0]
            assert zero.name == f"{prefix}_UNSPECIFIED", enum.full_name
            bad = [v.name for v in enum.values if not v.name.startswith(prefix + "_")]
            assert not bad, f"{enum.full_name} values without prefix {prefix}_: {bad}"
            checked += 1
    assert checked >= len(_table(ENUMS))


def test_every_field_is_snake_case_and_every_timestamp_is_well_known() -> None:
    time_suffixes = ("_at", "_deadline")
    for file in _all_files():
        assert file.package.startswith("cityops.") and file.package.endswith(".v1"), file.name
        for message in file.message_types_by_name.values():
            for field in message.fields:
                assert field.name == field.name.lower() and " " not in field.name, field.full_name
                if field.name.endswith(time_suffixes) and not field.name.endswith("_ms"):
                    assert field.type == FieldDescriptor.TYPE_MESSAGE, field.full_name
                    timestamp = field.message_type
                    assert timestamp is not None, field.full_name
                    assert timestamp.full_name == "google.protobuf.Timestamp", field.full_name


@pytest.mark.parametrize(("qualified", "members"), list(_table(ENVELOPES).items()))
def test_envelope_oneof_holds_every_contract_event(qualified: str, members: tuple[str, ...]) -> None:
    descriptor = _message(qualified)
    body = descriptor.oneofs_by_name.get("body")
    assert body is not None, f"{qualified} has no oneof body"
    types = {f.message_type.name for f in body.fields if f.message_type is not None}
    missing = [m for m in members if m not in types]
    assert not missing, f"{qualified}.body lacks {missing}"


def test_incident_message_carries_no_reporter_pii() -> None:
    incident = _message("incidents.Incident")
    assert not any("phone" in f or "reporter" in f for f in incident.fields_by_name)
