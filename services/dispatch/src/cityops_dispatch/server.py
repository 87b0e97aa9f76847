"""``cityops serve dispatch``: the DispatchService gRPC api on :50052.

On start, an empty units table gets the city's agencies, stations and units
(``CITYOPS_DISPATCH_SEED_ON_START=false`` turns it off); the seed is idempotent and never
overwrites a unit that exists.
"""

from __future__ import annotations

from cityops.dispatch.v1 import dispatch_pb2_grpc
from cityops_dispatch import db
from cityops_dispatch.eido.incidents_client import Incidents, IncidentsClient
from cityops_dispatch.eido.service import EidoImporter
from cityops_dispatch.eido.standard import installed_standard
from cityops_dispatch.eido.vocabulary import load_vocabulary
from cityops_dispatch.rules import load_rules, load_units_data
from cityops_dispatch.servicer import DispatchServicer
from cityops_dispatch.settings import DispatchSettings
from cityops_dispatch.units.seed import seed
from cityops_platform import auth
from cityops_platform.grpc import GrpcService
from cityops_platform.runtime import Resources, serve_grpc
from cityops_platform.settings import Settings

SERVICE = "cityops.dispatch.v1.DispatchService"
READERS = auth.STAFF | {"field_unit", "integrator"}
DISPATCHERS = ["dispatcher", "supervisor", "admin"]
POLICY = auth.AccessPolicy.for_service(
    SERVICE,
    {
        "RegisterUnit": ["supervisor", "admin"],
        "GetUnit": READERS,
        "ListUnits": READERS,
        "UpdateUnitStatus": ["field_unit", *DISPATCHERS],
        "StreamLocations": ["field_unit", "admin"],
        "RecommendUnits": ["operator", *DISPATCHERS],
        "AssignUnit": DISPATCHERS,
        "AcknowledgeAssignment": ["field_unit", *DISPATCHERS],
        "CancelAssignment": DISPATCHERS,
        "ListAssignments": READERS,
        "ExportEido": auth.STAFF | {"integrator"},
        "ImportEido": ["integrator", "supervisor", "admin"],
    },
)


def incidents_client(settings: Settings) -> IncidentsClient:
    tokens = auth.TokenCodec(settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    return IncidentsClient(
        addr=settings.incidents_addr, tokens=tokens, timeout_s=settings.rpc_timeout_seconds, settings=settings
    )


async def create_servicer(
    res: Resources, *, dispatch: DispatchSettings | None = None, incidents: Incidents | None = None
) -> DispatchServicer:
    """The servicer over the process's pool; seeds the default units first when configured."""
    dispatch = dispatch or DispatchSettings()
    if dispatch.seed_on_start:
        data = load_units_data(dispatch)
        await db.in_transaction(res.db, lambda conn: seed(conn, data, only_if_empty=True))
    importer = EidoImporter(
        pool=res.db, incidents=incidents or incidents_client(res.settings), domain=dispatch.eido_domain,
        vocab=load_vocabulary(dispatch.eido_file), standard=installed_standard(),
    )
    return DispatchServicer(pool=res.db, settings=dispatch, rules=load_rules(dispatch), importer=importer)


async def build(res: Resources) -> list[GrpcService]:
    servicer = await create_servicer(res)
    return [GrpcService(SERVICE, servicer, dispatch_pb2_grpc.add_DispatchServiceServicer_to_server)]


async def serve(settings: Settings) -> None:
    await serve_grpc("dispatch", settings, build=build, policy=POLICY)
