"""The IncidentService servicer: one class made of each concept's RPCs, holding their dependencies."""

from __future__ import annotations

from cityops.incidents.v1 import incidents_pb2_grpc
from cityops_incidents.incidents.service import IncidentService
from cityops_incidents.incidents.servicer import IncidentsRpc
from cityops_incidents.incidents.watch import IncidentWatch
from cityops_incidents.ratings.service import RatingDeps
from cityops_incidents.ratings.servicer import RatingsRpc


class IncidentServicer(IncidentsRpc, RatingsRpc, incidents_pb2_grpc.IncidentServiceServicer):
    def __init__(self, service: IncidentService, watch: IncidentWatch, ratings: RatingDeps | None = None) -> None:
        self._service = service
        self._watch = watch
        self._eido = service.rules.eido
        self._ratings = ratings
