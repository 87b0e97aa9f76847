"""Ratings, the satisfaction report and report summaries: domain → proto."""

from __future__ import annotations

from cityops.common.v1 import common_pb2
from cityops.incidents.v1 import incidents_pb2 as pb
from cityops_incidents.incidents.convert import agency_enum, category_enum, enum_value, ts
from cityops_incidents.incidents.models import Rating, SatisfactionRow, StoredReport
from cityops_incidents.incidents.report_store import CallerReport


def rating_pb(r: Rating) -> pb.Rating:
    return pb.Rating(
        id=r.id, incident_id=r.incident_id, incident_number=r.incident_number, rating=r.rating, comment=r.comment,
        agency=agency_enum(r.agency), agency_code=r.agency,
        category=category_enum(r.category), category_code=r.category,
        channel=r.channel, rated_at=ts(r.rated_at),
    )


def satisfaction_pb(rows: list[SatisfactionRow]) -> pb.SatisfactionReport:
    total = sum(r.count for r in rows)
    average = sum(r.average * r.count for r in rows) / total if total else 0.0
    return pb.SatisfactionReport(
        rows=[pb.SatisfactionRow(agency=agency_enum(r.agency), agency_code=r.agency,
                                 category=category_enum(r.category), category_code=r.category, count=r.count,
                                 average=r.average, distribution=list(r.distribution),
                                 satisfied_share=round(r.satisfied_share, 3)) for r in rows],
        total=total, average=round(average, 2),
    )


def report_summary_pb(r: StoredReport) -> pb.ReportSummary:
    """A report as staff see it: everything but the reporter's name, the phone masked."""
    return pb.ReportSummary(
        id=r.id, source=enum_value(pb.Source, "SOURCE_", r.source),
        category=category_enum(r.category), category_code=r.category,
        subcategory=r.subcategory, description=r.description,
        location=common_pb2.GeoPoint(lat=r.lat, lon=r.lon, address=r.address), merged=r.merged,
        distance_m=round(r.distance_m, 1), reporter_phone_masked=r.reporter_phone_masked,
        occurred_at=ts(r.occurred_at), received_at=ts(r.received_at),
    )


def caller_report_pb(c: CallerReport) -> pb.CallerReport:
    """A caller's earlier report for the call-taker: the incident it joined, the phone masked."""
    r = c.report
    return pb.CallerReport(
        report_id=r.id, incident_id=r.incident_id, incident_number=c.incident_number,
        incident_status=enum_value(pb.Status, "STATUS_", c.incident_status),
        category=enum_value(pb.Category, "CATEGORY_", r.category), description=r.description[:500],
        reporter_phone_masked=r.reporter_phone_masked, merged=r.merged, received_at=ts(r.received_at),
        location=common_pb2.GeoPoint(lat=r.lat, lon=r.lon, address=r.address),
    )
