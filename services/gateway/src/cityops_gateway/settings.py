"""Gateway-only configuration (``CITYOPS_GATEWAY_*``), next to the shared ``Settings``.

Operator accounts and Open311 API keys are data, not code: a YAML file and an environment
variable. The bundled defaults are for the local city only; production points
``CITYOPS_GATEWAY_USERS_FILE`` at its own file (or, better, replaces login with the city's IdP).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cityops_platform.city import current_city
from cityops_platform.settings import Settings

PACKAGE_DIR = Path(__file__).resolve().parent
CONFIG_DIR = PACKAGE_DIR / "config"
STATIC_DIR = PACKAGE_DIR / "static"


def city_gateway_file(name: str) -> Path:
    """A gateway file of this process's city folder (``cities/<name>/gateway/<name>``)."""
    return current_city().file(f"gateway/{name}")


# Only the local city gets this key without asking: it is printed in docs/open311.md.
DEV_OPEN311_KEYS = "dev-app:cityops-open311-dev-key"


class GatewaySettings(BaseSettings):
    """What the gateway alone needs: accounts, API keys, the map and the live stream."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_GATEWAY_", extra="ignore")

    users_file: Path = Field(default=CONFIG_DIR / "users.yaml", description="Operator accounts (scrypt hashes).")
    open311_keys: str = Field(default=
        "", description="Open311 clients as 'name:key,name2:key2'; empty = the dev key in local only."
    )
    open311_role: str = Field(default="integrator", description="Role of the token minted for Open311 calls.")
    open311_services_file: Path = Field(default_factory=lambda: city_gateway_file("open311_services.yaml"),
                                        description="The Open311 catalogue; default: the city's.")
    open311_endpoint_file: Path = Field(default_factory=lambda: city_gateway_file("open311_endpoint.yaml"),
                                        description="jurisdiction_id and the Service Discovery document.")
    open311_gazetteer_file: Path = Field(default_factory=lambda: city_gateway_file("gazetteer.yaml"),
                                         description="Wards, communes and streets for address_string / address_id.")
    open311_jurisdiction_id: str = Field(default="", description="Overrides jurisdiction_id of the endpoint file.")
    open311_unlocated: Literal["accept", "reject"] = Field(
        default="accept", description="An address_string the gazetteer cannot place: accept (flagged) or 400.")
    public_base_url: str = Field(default="", description="e.g. https://ioc.example.vn; empty = from the request.")
    public_cache_seconds: float = Field(default=5.0, description="Cache of the public feeds (CAP, STA, NGSI-LD).")
    cap_feed_statuses: str = Field(default="Actual,Exercise", description="CAP statuses served on the public feed.")
    sta_max_sensors: int = Field(default=5000, description="Sensors listed by the SensorThings / NGSI-LD views.")
    cap_feed_max_alerts: int = Field(default=500, description="Alerts scanned for the feed and identifier look-ups.")
    login_ttl_seconds: int = 12 * 3600
    map_tile_url: str = Field(default="", description="e.g. https://tiles.example/{z}/{x}/{y}.png; empty = no tiles.")
    map_tile_attribution: str = ""
    sse_heartbeat_seconds: float = 15.0
    sse_queue_size: int = 1000
    kpi_cache_seconds: float = 10.0
    # Hardening (security.py, throttle.py, events/filters.py; docs/security.md "Gateway").
    max_body_bytes: int = Field(default=1024 * 1024, description="Larger request bodies are refused with 413.")
    sse_max_streams_per_token: int = Field(default=5, description="Live streams one token may hold open (429).")
    login_max_failures_user: int = Field(default=5, description="Failed logins per username before a lockout.")
    login_max_failures_address: int = Field(default=20, description="Failed logins per client address.")
    login_lockout_seconds: float = Field(default=30.0, description="First lockout; doubles per further failure.")
    login_lockout_max_seconds: float = 900.0
    open311_anonymous_reads_per_minute: float = Field(default=60.0, description="Open311 GETs without api_key.")
    open311_anonymous_read_burst: int = Field(default=60, description="Anonymous Open311 GETs at once.")

    def api_keys(self, settings: Settings) -> dict[str, str]:
        """Open311 API key -> client name."""
        raw = self.open311_keys or (DEV_OPEN311_KEYS if settings.environment == "local" else "")
        keys: dict[str, str] = {}
        for item in raw.split(","):
            name, sep, key = item.strip().partition(":")
            if sep and name and key:
                keys[key] = name
        return keys
