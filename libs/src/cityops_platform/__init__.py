"""CityOps shared runtime: written once, used by every service.

Modules:
- ``settings``: configuration from the environment (pydantic-settings).
- ``logging``: JSON logs to stdout carrying the trace id.
- ``errors``: domain error types that the gRPC interceptor maps to status codes.
- ``auth``: JWT bearer tokens and role-based access control (deny by default).
- ``grpc``: the aio server builder and interceptors (auth, errors, RED metrics, tracing).
- ``kafka``: the topic catalog, protobuf codec, trace headers, dead-letter helper, producer.
- ``faust_app``: the Faust app factory.
- ``db``: the Postgres pool, numbered SQL migrations and the transactional outbox with its relay.
- ``codecs``, ``geo``: datetime ⇄ Timestamp, enum names, page tokens, actors, haversine, coordinates.
- ``failures``: count-and-log of an error that is deliberately not raised.

Developer tooling (the devstack, ``cityops up``, test helpers) is the separate ``cityops-devtools``
package (devtools/), installed by ``make setup`` and never in the images.
"""
