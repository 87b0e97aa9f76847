"""A minimal CityOps Faust worker for platform tests: IncidentEvent in → same event out.

It uses the real runtime pieces (app factory, raw topics, ``consume`` with dead letters). A record
whose ``incident_number`` is ``RAISE`` makes the handler fail, to exercise the handler-error path.
"""

from __future__ import annotations

import os
from typing import Any

import faust

from cityops.incidents.v1 import events_pb2
from cityops_platform.faust_app import consume, create_app, faust_dead_letters, proto_decoder, raw_topic
from cityops_platform.settings import Settings
from cityops_platform.worker import make_worker

IN_TOPIC = "test.echo.in.v1"
OUT_TOPIC = "test.echo.out.v1"

settings = Settings()
# ECHO_WEB_PORT: serve /metrics, /livez and /readyz there (the probes' endpoints).
web_port = int(os.environ["ECHO_WEB_PORT"]) if os.environ.get("ECHO_WEB_PORT") else None
app = create_app("echo", settings, web_port=web_port)
source = raw_topic(app, f"{settings.topic_prefix}{IN_TOPIC}")


@app.agent(source)
async def echo(stream: faust.StreamT) -> None:
    async def handle(event: events_pb2.IncidentEvent, _: Any) -> None:
        if event.incident_number == "RAISE":
            raise ValueError("handler refused this event")
        await app.producer.send_and_wait(
            f"{settings.topic_prefix}{OUT_TOPIC}", event.incident_id.encode(),
            event.SerializeToString(), partition=None, timestamp=None, headers=None,
        )

    await consume(stream, decode=proto_decoder(events_pb2.IncidentEvent), handle=handle,
                  dead_letters=faust_dead_letters(app))


if __name__ == "__main__":
    make_worker(app, "echo", "WARNING").execute_from_commandline()
