"""The DispatchService servicer: one class made of each concept's RPCs, holding their dependencies.

Each part translates only (proto ⇄ models, errors ⇄ status); the rules and the transactions are
in the concepts' ``service.py``."""

from __future__ import annotations

import asyncpg

from cityops.dispatch.v1 import dispatch_pb2_grpc
from cityops_dispatch.assignments.service import AssignmentEngine
from cityops_dispatch.assignments.servicer import AssignmentsRpc
from cityops_dispatch.eido.service import EidoImporter
from cityops_dispatch.eido.servicer import EidoRpc
from cityops_dispatch.recommend.servicer import RecommendRpc
from cityops_dispatch.rules import Rules
from cityops_dispatch.settings import DispatchSettings
from cityops_dispatch.units.servicer import UnitsRpc


class DispatchServicer(UnitsRpc, RecommendRpc, AssignmentsRpc, EidoRpc, dispatch_pb2_grpc.DispatchServiceServicer):
    def __init__(
        self, *, pool: asyncpg.Pool, settings: DispatchSettings, rules: Rules, importer: EidoImporter
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._rules = rules
        self._importer = importer
        self._engine = AssignmentEngine(
            rules=rules, ack_timeout_s=settings.ack_timeout_seconds, max_radius_m=settings.max_search_radius_m
        )
