"""The rating RPCs of IncidentService: proto ↔ domain only; the rules are in ratings/service.py."""

from __future__ import annotations

from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents.incidents.convert import agency_codes, category_codes, from_ts
from cityops_incidents.incidents.models import RatingIn
from cityops_incidents.incidents.servicer import Ctx, current_actor
from cityops_incidents.ratings import service
from cityops_incidents.ratings.convert import rating_pb, satisfaction_pb
from cityops_incidents.ratings.service import RatingDeps
from cityops_platform.errors import FieldViolation, Unavailable, require


class RatingsRpc:
    """RateIncident, GetSatisfactionReport (a part of ``servicer.IncidentServicer``)."""

    _ratings: RatingDeps | None

    async def RateIncident(self, request: pb.RateIncidentRequest, context: Ctx) -> pb.Rating:  # noqa: N802
        actor, roles = current_actor()
        r = RatingIn(incident_id=request.id, rating=request.rating, comment=request.comment,
                     link_token=request.link_token)
        deps = self._require_ratings()
        return rating_pb(await service.rate_incident(
            r, actor=actor, roles=roles, pool=deps.pool, rules=deps.rules, link_key=deps.link_key,
        ))

    async def GetSatisfactionReport(  # noqa: N802
        self, request: pb.GetSatisfactionReportRequest, context: Ctx
    ) -> pb.SatisfactionReport:
        out: list[FieldViolation] = []
        categories = category_codes(request.category_codes, request.categories, out)
        agencies = agency_codes(request.agency_codes, request.agencies, out)
        require(out)
        rows = await service.satisfaction_report(
            pool=self._require_ratings().pool,
            since=from_ts(request.since, "since") if request.HasField("since") else None,
            until=from_ts(request.until, "until") if request.HasField("until") else None,
            agencies=list(agencies), categories=list(categories),
        )
        return satisfaction_pb(rows)

    def _require_ratings(self) -> RatingDeps:
        if self._ratings is None:
            raise Unavailable("Đánh giá chưa được cấu hình (ratings not configured)")
        return self._ratings
