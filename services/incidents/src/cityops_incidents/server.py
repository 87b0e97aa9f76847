"""``cityops serve incidents``: the IncidentService gRPC api on :50051.

Access policy (deny by default; roles from the bearer token):
- ReportIncident: citizens (app/Open311 only), call-takers, operators, supervisors, integrators
  (gateway, CAD, sensor bridges) and admins. Sensor gateways stream readings to the sensors
  service instead; their alerts reach us through Kafka.
- Reads (Get/List/Timeline/Nearby/Watch): operations-center staff and integrators. Field units
  and citizens read through the gateway and dispatch, which filter what they may see.
- TransitionIncident: operators, dispatchers, supervisors, admins (call-takers only file).
- AddNote: staff, field units (a unit adds what it sees on scene: only incidents its unit is
  assigned to) and integrations (an external CAD's EIDO notes: only incidents it reported).
- SplitReport: operators and supervisors (undoing a wrong merge is a desk decision).
- ReopenIncident: the reporter (citizen; the service checks they filed a report) and operators.
- RateIncident: citizens (their own incidents) and integrators (the gateway, with a signed link);
  the service refuses an integrator without a valid link.
- GetSatisfactionReport, ListReports: operations-center staff.
- FindCallerReports: call-takers, operators, dispatchers, supervisors, admins (a caller's history).
"""

from __future__ import annotations

import asyncio
import logging

from cityops.incidents.v1 import incidents_pb2_grpc
from cityops_incidents.incidents import metrics as incident_metrics
from cityops_incidents.incidents import report_store
from cityops_incidents.incidents.service import IncidentService
from cityops_incidents.incidents.watch import IncidentWatch
from cityops_incidents.ratings.service import RatingDeps
from cityops_incidents.rules import load_rules
from cityops_incidents.servicer import IncidentServicer
from cityops_incidents.settings import IncidentsSettings, phone_hash_key, previous_phone_hash_key
from cityops_platform import auth, ratinglinks
from cityops_platform.failures import count_and_log
from cityops_platform.grpc import GrpcService
from cityops_platform.runtime import Resources, serve_grpc
from cityops_platform.settings import Settings

SERVICE = "cityops.incidents.v1.IncidentService"
READERS = auth.STAFF | {"integrator"}
log = logging.getLogger("cityops.incidents.api")

POLICY = auth.AccessPolicy.for_service(
    SERVICE,
    {
        "ReportIncident": ["citizen", "call_taker", "operator", "supervisor", "integrator", "admin"],
        "GetIncident": READERS,
        "ListIncidents": READERS,
        "GetTimeline": READERS,
        "FindNearbyIncidents": READERS,
        "WatchIncidents": READERS,
        "TransitionIncident": ["operator", "dispatcher", "supervisor", "admin"],
        "AddNote": auth.STAFF | {"field_unit", "integrator"},
        "SplitReport": ["operator", "supervisor", "admin"],
        "ReopenIncident": ["citizen", "operator", "supervisor", "admin"],
        "RateIncident": ["citizen", "integrator"],
        "GetSatisfactionReport": auth.STAFF,
        "ListReports": auth.STAFF,
        "FindCallerReports": ["call_taker", "operator", "dispatcher", "supervisor", "admin"],
    },
)


_BACKGROUND: set[asyncio.Task[None]] = set()


async def _hash_legacy_phones(res: Resources, key: bytes) -> None:
    try:
        done = await report_store.hash_legacy_phones(res.db, key)
        if done:
            log.info("legacy reporter phones hashed", extra={"rows": done})
    except Exception as exc:  # a failure here must not stop the api; the next start tries again
        count_and_log("incidents.hash_legacy_phones", log, "legacy reporter phones not hashed yet", exc)


def build(res: Resources) -> list[GrpcService]:
    incident_metrics.install()  # domain metrics from the events this api's relay publishes
    own = IncidentsSettings()
    rules = load_rules(own.rules_file)
    phone_key = phone_hash_key(own, is_local=res.settings.is_local)
    service = IncidentService(pool=res.db, rules=rules, phone_key=phone_key,
                              previous_phone_key=previous_phone_hash_key(own, is_local=res.settings.is_local))
    # Reports from before migration 175 still hold the number: hashed in the background, once.
    _BACKGROUND.add(task := asyncio.get_running_loop().create_task(_hash_legacy_phones(res, phone_key)))
    task.add_done_callback(_BACKGROUND.discard)
    link = ratinglinks.RatingLinkSettings()
    key = ratinglinks.link_key(res.settings.jwt_secret, link.secret)
    ratings = RatingDeps(pool=res.db, rules=rules, link_key=key)
    servicer = IncidentServicer(service, IncidentWatch(res.settings), ratings)
    return [GrpcService(SERVICE, servicer, incidents_pb2_grpc.add_IncidentServiceServicer_to_server)]


async def serve(settings: Settings) -> None:
    await serve_grpc("incidents", settings, build=build, policy=POLICY)
