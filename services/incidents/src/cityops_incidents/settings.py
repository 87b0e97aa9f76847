"""``CITYOPS_INCIDENTS_*``: what an operator tunes without touching the rules file (rules.py)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from cityops_platform.city import city_file

DEFAULT_RULES_FILE = city_file("incidents/rules.yaml")  # this process's city (CITYOPS_CITY)


class IncidentsSettings(BaseSettings):
    """Settings of this service only (prefix ``CITYOPS_INCIDENTS_``)."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_INCIDENTS_", extra="ignore")

    rules_file: str = str(DEFAULT_RULES_FILE)
    sla_sweep_seconds: float = 5.0
    sla_sweep_batch: int = 200
    # Consumer-group session timeout; None keeps Faust's default (60 s). A crashed worker's
    # partitions move to the survivors only after it, so tests lower it.
    worker_session_timeout_seconds: float | None = None
