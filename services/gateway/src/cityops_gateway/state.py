"""What the gateway's request handlers share: clients, the event hub, accounts and catalogs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from cityops_gateway.clients import ServiceClients, ServiceTokens
from cityops_gateway.events.filters import StreamLimiter
from cityops_gateway.events.hub import EventHub
from cityops_gateway.open311.catalog import ServiceCatalog
from cityops_gateway.open311.endpoint import Endpoint
from cityops_gateway.open311.gazetteer import Gazetteer
from cityops_gateway.settings import GatewaySettings
from cityops_gateway.throttle import LoginThrottle, RateLimiter
from cityops_gateway.users import UserDirectory
from cityops_platform import auth
from cityops_platform.settings import Settings


@dataclass
class GatewayState:
    settings: Settings
    gateway_settings: GatewaySettings  # CITYOPS_GATEWAY_*; ``settings`` holds the shared CITYOPS_* ones
    codec: auth.TokenCodec
    users: UserDirectory
    catalog: ServiceCatalog
    api_keys: dict[str, str]
    service_tokens: ServiceTokens
    hub: EventHub | None = None
    clients_: ServiceClients | None = None
    kpi_cache: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    gazetteer: Gazetteer | None = None  # Open311 address_string / address_id geocoding
    endpoint: Endpoint | None = None  # Open311 jurisdiction and discovery
    public_cache: dict[str, tuple[float, Any]] = field(default_factory=dict)  # CAP feed, STA, NGSI-LD
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    open311_reads: RateLimiter | None = None  # anonymous Open311 reads per client address
    sse_streams: StreamLimiter = field(default_factory=lambda: StreamLimiter(5))

    @property
    def clients(self) -> ServiceClients:
        if self.clients_ is None:
            raise RuntimeError("gateway clients are not started (lifespan not run)")
        return self.clients_


def gateway_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state
