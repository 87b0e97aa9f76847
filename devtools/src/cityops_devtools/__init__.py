"""CityOps developer tooling: never installed in the images (``make setup`` installs it into .venv).

- ``devstack``: a real local Kafka 4 broker and a real PostgreSQL, started by our own code.
- ``city``: the one launcher of a whole city (plan → spawn → ready → stop) on free or fixed ports,
  used by ``cityops up``, the bench, the e2e and fault suites and the pipeline probe.
- ``localcity``: ``cityops up`` (prerequisite checks, bilingual messages, the supervised city).
- ``supervision``: restarts with exponential backoff and a limit.
- ``testing``: helpers for tests against the real components.
"""
