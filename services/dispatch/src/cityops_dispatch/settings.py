"""``CITYOPS_DISPATCH_*``: what an operator tunes without touching the rules file (rules.py)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cityops_platform.city import current_city


def city_config(name: str) -> Path:
    """A dispatch file of this process's city folder (``dispatch/<name>``)."""
    return current_city().file(f"dispatch/{name}")


class DispatchSettings(BaseSettings):
    """``CITYOPS_DISPATCH_*``: what an operator may tune without touching the rules file."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_DISPATCH_", extra="ignore")

    ack_timeout_seconds: float = 30.0
    timer_interval_seconds: float = 1.0  # how often the worker looks for expired acknowledgements
    retry_interval_seconds: float = 5.0  # how often waiting incidents are tried again
    auto_priorities: str = ""  # e.g. "P1,P2"; empty = the rules file's auto_dispatch_priorities
    seed_on_start: bool = True  # the api seeds the city's units (dispatch/units.yaml) into an empty table
    rules_file: str = ""  # empty = the city's dispatch/rules.yaml
    units_file: str = ""  # empty = the city's dispatch/units.yaml
    eido_domain: str = Field(default_factory=lambda: current_city().domain)  # the city's `domain` (city.yaml)
    eido_file: str = ""  # empty = the city's dispatch/eido.yaml (city words → NENA registry values)
    eido_partners_file: str = ""  # empty = the city's dispatch/partners.yaml (no partners)
    eido_conveyance_max_attempts: int = 8
    eido_conveyance_backoff_seconds: float = 1.0  # doubles per attempt, ±25 % jitter
    eido_conveyance_backoff_max_seconds: float = 300.0
    eido_conveyance_timeout_seconds: float = 5.0
    max_search_radius_m: float = 150_000.0
    # How long an AssignUnit idempotency key (table request_keys) is kept: longer than any period a
    # console holds its offline outbox (the same 7 days as the incidents' keys); at least a day.
    request_key_retention_days: float = Field(default=7.0, ge=1.0)
    # Incident events handled at once per worker. Order per incident does not matter: the view keeps
    # the highest version and the planning row lock makes auto-dispatch happen once.
    agent_concurrency: int = 6
