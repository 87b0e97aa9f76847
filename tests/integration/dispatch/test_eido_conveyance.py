"""EIDO conveyance end to end: incident and dispatch events on the real Kafka → the real dispatch
worker (subprocess) → signed POSTs to real local HTTP receivers (partner CADs), with retries, the
same webhook-id on every retry, de-duplication of a redelivered event, and the dead-letter topic
for a partner that never answers 2xx. Every EIDO received validates against NENA's schema and
registries, and its signature verifies with the Standard Webhooks reference library.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cityops.common.v1 import common_pb2
from cityops.dispatch.v1 import dispatch_pb2, events_pb2
from cityops.incidents.v1 import incidents_pb2
from cityops_devtools.testing import consume, eventually, free_port
from cityops_dispatch.eido import conveyance_store
from cityops_dispatch.eido.conveyance import ConveyanceSettings, Conveyor
from cityops_dispatch.eido.partners import Partner
from cityops_dispatch.eido.service import conformance_violations
from cityops_dispatch.eido.standard import load_standard
from cityops_dispatch.eido.vocabulary import load_vocabulary
from cityops_platform.errors import NotFound
from cityops_platform.kafka.topics import EIDO_CONVEYANCES, INCIDENT_EVENTS

from .conftest import Api, WorkerProcess, make_incident

pytestmark = pytest.mark.integration

GOOD_SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
DEAD_SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
PORT = free_port()
PARTNERS_FILE = Path(tempfile.gettempdir()) / f"cityops-eido-partners-{uuid.uuid4().hex[:8]}.yaml"
PARTNERS_FILE.write_text(
    "partners:\n"
    f"  - {{name: hcm-114, url: 'http://127.0.0.1:{PORT}/good', secret_env: TEST_EIDO_GOOD_SECRET}}\n"
    f"  - {{name: broken-cad, url: 'http://127.0.0.1:{PORT}/dead', secret_env: TEST_EIDO_DEAD_SECRET,"
    " categories: [EMERGENCY_MEDICAL]}\n",
    encoding="utf-8",
)
WORKER_ENV = {
    "CITYOPS_DISPATCH_EIDO_PARTNERS_FILE": str(PARTNERS_FILE),
    "TEST_EIDO_GOOD_SECRET": GOOD_SECRET,
    "TEST_EIDO_DEAD_SECRET": DEAD_SECRET,
    "CITYOPS_DISPATCH_EIDO_CONVEYANCE_MAX_ATTEMPTS": "3",
    "CITYOPS_DISPATCH_EIDO_CONVEYANCE_BACKOFF_SECONDS": "0.2",
    "CITYOPS_DISPATCH_ACK_TIMEOUT_SECONDS": "600",
    "CITYOPS_STANDARDS_DIR": str(load_standard().folder),
    "CITYOPS_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",  # the partner CADs of this test listen on loopback
}


@dataclass
class Received:
    """What the partner CADs received: (path, webhook-id, body, verified, answer) per request."""

    requests: list[tuple[str, str, str, bool, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def good(self) -> list[tuple[str, str]]:
        """(webhook-id, body) of what the good partner accepted."""
        with self.lock:
            return [(r[1], r[2]) for r in self.requests if r[0] == "/good" and r[4] == 204]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Received]:
    received = Received()
    first_seen: set[str] = set()

    class Partner(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
            headers = {k.lower(): v for k, v in self.headers.items()}
            secret = GOOD_SECRET if self.path == "/good" else DEAD_SECRET
            try:
                Webhook(secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
            wid = headers.get("webhook-id", "")
            with received.lock:
                retry_first = self.path == "/good" and wid not in first_seen
                first_seen.add(wid)
                if not verified:
                    code = 401
                elif self.path == "/dead":
                    code = 503
                else:
                    code = 503 if retry_first else 204  # every first attempt fails: the retry must come
                received.requests.append((self.path, wid, body, verified, code))
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", PORT), Partner)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received
    server.shutdown()
    server.server_close()
    PARTNERS_FILE.unlink(missing_ok=True)


def _incident_event(incident: incidents_pb2.Incident, event_id: str) -> bytes:
    event = incidents_pb2.IncidentEvent(event_id=event_id, incident_id=incident.id, incident_number=incident.number,
                                        incident=incident, actor=common_pb2.Actor(subject="system", role="system"))
    event.occurred_at.FromDatetime(datetime.now(UTC))
    event.reported.CopyFrom(incidents_pb2.IncidentReported(source=incidents_pb2.Source.SOURCE_HOTLINE_1022))
    return event.SerializeToString()


async def test_changes_are_conveyed_signed_retried_deduplicated_and_dead_lettered(
    api: Api, worker: WorkerProcess, receiver: Received
) -> None:
    standard, vocab = load_standard(), load_vocabulary()
    await api.register("u-als-1", ["ALS"], 10.981, 106.652)
    # A fire (the broken partner only wants medical incidents), P3: no auto-dispatch.
    incident = make_incident(category=incidents_pb2.Category.CATEGORY_FIRE, priority=incidents_pb2.Priority.PRIORITY_P3)
    topic = f"{api.env.topic_prefix}{INCIDENT_EVENTS.name}"
    reported_id = str(uuid.uuid4())
    await api.producer.send_and_wait(topic, _incident_event(incident, reported_id), key=incident.id.encode())

    def for_incident() -> list[tuple[str, dict[str, Any]]]:
        return [(wid, json.loads(body)) for wid, body in receiver.good()
                if json.loads(body)["incidentComponent"]["internalIncidentId"] == incident.number]

    async def first_delivered() -> list[tuple[str, dict[str, Any]]] | None:
        got = for_incident()
        return got or None

    delivered = await eventually(first_delivered, timeout=90, interval=0.3)
    assert worker.alive(), worker.tail()
    wid, doc = delivered[0]
    assert conformance_violations(doc, standard=standard, vocab=vocab) == []
    # The first attempt was refused with 503; the retry carried the same webhook-id.
    with receiver.lock:
        attempts = [r for r in receiver.requests if r[0] == "/good" and r[1] == wid]
    assert [(r[3], r[4]) for r in attempts] == [(True, 503), (True, 204)]

    # An assignment is a change too: the partner gets an EIDO with the unit in it.
    await api.stub.AssignUnit(dispatch_pb2.AssignUnitRequest(incident_id=incident.id, unit_id="u-als-1",
                                                             capability="ALS", reason="gần nhất"),
                              metadata=api.md())

    async def with_unit() -> dict[str, Any] | None:
        docs = [d for _, d in for_incident() if d.get("emergencyResourceComponent")]
        return docs[-1] if docs else None

    assigned = await eventually(with_unit, timeout=60, interval=0.3)
    assert conformance_violations(assigned, standard=standard, vocab=vocab) == []
    assert assigned["emergencyResourceComponent"][0]["emergencyResourceName"] == "U-ALS-1"

    # Kafka redelivers the reported event: no second conveyance. A later event on the same key is
    # processed after it, so once that one is queued the duplicate has been seen.
    await api.producer.send_and_wait(topic, _incident_event(incident, reported_id), key=incident.id.encode())
    marker_id = str(uuid.uuid4())
    await api.producer.send_and_wait(topic, _incident_event(incident, marker_id), key=incident.id.encode())

    async def marker_queued() -> int | None:
        n = await api.pool.fetchval("SELECT count(*) FROM eido_conveyances WHERE event_id = $1", marker_id)
        return int(n) or None

    await eventually(marker_queued, timeout=60, interval=0.3)
    rows = await api.pool.fetch("SELECT partner FROM eido_conveyances WHERE event_id = $1", reported_id)
    assert [r["partner"] for r in rows] == ["hcm-114"]  # one row: the redelivery queued nothing


async def test_partner_that_never_answers_2xx_is_dead_lettered_after_its_attempts(
    api: Api, worker: WorkerProcess, receiver: Received
) -> None:
    incident = make_incident(category=incidents_pb2.Category.CATEGORY_EMERGENCY_MEDICAL,
                             priority=incidents_pb2.Priority.PRIORITY_P3)
    event_id = str(uuid.uuid4())
    await api.producer.send_and_wait(f"{api.env.topic_prefix}{INCIDENT_EVENTS.name}",
                                     _incident_event(incident, event_id), key=incident.id.encode())

    async def dead() -> Any:
        row = await api.pool.fetchrow(
            "SELECT status, attempts, last_http_status FROM eido_conveyances WHERE event_id = $1 AND partner = $2",
            event_id, "broken-cad")
        return row if row is not None and row["status"] == "DEAD_LETTERED" else None

    row = await eventually(dead, timeout=90, interval=0.3)
    assert (row["attempts"], row["last_http_status"]) == (3, 503)
    with receiver.lock:
        hits = [r for r in receiver.requests if r[0] == "/dead" and r[3]]
    # One webhook-id, every request signed, and every one of the three attempts reached the partner: a
    # conveyance that found the incident not yet in dispatch's view was put back without counting.
    assert len({r[1] for r in hits}) == 1 and len(hits) == 3, hits

    records = await consume(api.settings, EIDO_CONVEYANCES.dlq.name, count=1, timeout=30,
                            predicate=lambda r: r.key == incident.id.encode())
    assert records, "no dead letter on the DLQ topic"
    letter = events_pb2.EidoConveyance()
    letter.ParseFromString(records[0].value)
    assert (letter.partner, letter.status, letter.attempts, letter.event_id) == (
        "broken-cad", "DEAD_LETTERED", 3, event_id)
    assert json.loads(letter.eido_json)["incidentComponent"]["internalIncidentId"] == incident.number
    # The medical incident also went to the partner that wants everything, and arrived there.
    async def sent_to_good() -> str | None:
        status = await api.pool.fetchval(
            "SELECT status FROM eido_conveyances WHERE event_id = $1 AND partner = 'hcm-114'", event_id)
        return status if status == "SENT" else None

    assert await eventually(sent_to_good, timeout=60, interval=0.3) == "SENT"


async def test_an_incident_not_yet_in_the_view_is_waited_for_without_spending_attempts(
    api: Api, worker: WorkerProcess, receiver: Received
) -> None:
    """The view and the conveyance come from the same event, so a conveyance can be due before its
    incident is in dispatch's view: within the view wait that is not an attempt (nothing was sent);
    after it, it counts like any other temporary failure, so a missing incident still ends in the DLQ."""
    row_id, incident_id = f"msg_test_{uuid.uuid4().hex}", f"missing-{uuid.uuid4().hex[:8]}"
    # Not due for an hour, so the running worker leaves it to this test.
    await api.pool.execute(
        "INSERT INTO eido_conveyances (id, partner, incident_id, event_id, next_attempt_at)"
        " VALUES ($1, 'hcm-114', $2, $3, now() + interval '1 hour')", row_id, incident_id, str(uuid.uuid4()))
    exported: list[str] = []

    async def export(wanted: str) -> Any:
        exported.append(wanted)
        raise NotFound("incident", wanted)

    partner = Partner("hcm-114", f"http://127.0.0.1:{PORT}/good", GOOD_SECRET)
    conveyor = Conveyor(pool=lambda: api.pool, partners=(partner,), export=export,
                        settings=ConveyanceSettings(view_wait_s=30, poll_s=5, allow=()))
    try:
        queued_now = datetime.now(UTC)
        fresh = conveyance_store.Conveyance(row_id, "hcm-114", incident_id, "e", "PENDING", 0, queued_now)
        assert await conveyor.attempt(fresh) == "PENDING"
        row = await api.pool.fetchrow(
            "SELECT attempts, next_attempt_at, last_error FROM eido_conveyances WHERE id = $1", row_id)
        assert row["attempts"] == 0 and "view" in row["last_error"]
        # Due again after one poll (5 s here, so the running worker cannot take it before the next step).
        assert timedelta(seconds=4) < row["next_attempt_at"] - queued_now < timedelta(seconds=30)

        stale = conveyance_store.Conveyance(row_id, "hcm-114", incident_id, "e", "PENDING", 0,
                                            queued_now - timedelta(seconds=31))
        assert await conveyor.attempt(stale) == "PENDING"
        assert await api.pool.fetchval("SELECT attempts FROM eido_conveyances WHERE id = $1", row_id) == 1
        assert exported == [incident_id, incident_id]
        with receiver.lock:
            assert not [r for r in receiver.requests if r[2] and incident_id in r[2]]  # nothing was sent
    finally:
        await conveyor.close()
        await api.pool.execute("DELETE FROM eido_conveyances WHERE id = $1", row_id)
