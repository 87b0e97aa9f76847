"""The RecommendUnits RPC: proto ⇄ models only; the run card and the search are in recommend/service.py."""

from __future__ import annotations

from typing import Any

import asyncpg

from cityops.dispatch.v1 import dispatch_pb2
from cityops_dispatch.convert import page_limit, required, unit_pb
from cityops_dispatch.recommend.run_cards import run_card_pb
from cityops_dispatch.recommend.service import recommend_units
from cityops_dispatch.rules import Rules
from cityops_dispatch.settings import DispatchSettings
from cityops_platform.errors import require


class RecommendRpc:
    """RecommendUnits (a part of DispatchServicer)."""

    _pool: asyncpg.Pool
    _rules: Rules
    _settings: DispatchSettings

    async def RecommendUnits(  # noqa: N802
        self, request: dispatch_pb2.RecommendUnitsRequest, context: Any
    ) -> dispatch_pb2.RecommendUnitsResponse:
        require(required(request.incident_id, "incident_id"))
        limit = page_limit(request.limit, default=5, maximum=50, path="limit")
        found = await recommend_units(
            request.incident_id, pool=self._pool, capabilities=request.capabilities, limit=limit, rules=self._rules,
            max_radius_m=self._settings.max_search_radius_m,
        )
        return dispatch_pb2.RecommendUnitsResponse(
            candidates=[
                dispatch_pb2.Candidate(unit=unit_pb(c.unit), distance_m=c.distance_m, eta_seconds=c.eta_seconds,
                                       matched_capability=c.matched_capability)
                for c in found.candidates
            ],
            required_capabilities=found.required_capabilities,
            run_card=run_card_pb(found.run_card),
        )
