"""Settings come from the environment only (twelve-factor), prefixed ``CITYOPS_``."""

from __future__ import annotations

import secrets
from functools import lru_cache

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cityops_platform.city import current_city

DEFAULT_GRPC_PORTS = {"incidents": 50051, "dispatch": 50052, "sensors": 50053, "notifications": 50054}
DEFAULT_METRICS_PORTS = {
    "incidents": 9101,
    "dispatch": 9102,
    "sensors": 9103,
    "notifications": 9104,
    "gateway": 9105,
}
# Worker metrics ports sit 10 above the api's, so a local machine can run both.
WORKER_METRICS_OFFSET = 10

MIN_JWT_SECRET_LENGTH = 32
# Keys that were once built in or printed in the docs: never accepted, in any environment.
KNOWN_PUBLIC_JWT_SECRETS = frozenset({
    "cityops-local-development-secret-change-me!",
    "change-me",
    "changeme",
})
# The local city's key when none is given: random, one per process. `cityops up` and the test
# launchers hand theirs to every child (CITYOPS_JWT_SECRET), so a whole run shares one key.
_LOCAL_JWT_SECRET = secrets.token_urlsafe(48)


class ConfigurationError(ValueError):
    """A setting that must not reach a running process (bilingual message for the operator)."""


class Settings(BaseSettings):
    """Everything a CityOps process needs to know about its surroundings."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_", extra="ignore")

    environment: str = Field("local", description="local | staging | production")
    log_level: str = "INFO"

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ca_file: str | None = None
    topic_prefix: str = Field("", description="Prepended to every topic name; tests use it for isolation.")
    kafka_replication_factor: int = Field(
        1, description="Replication of topics the workers create (Faust changelogs); 3 in production."
    )

    database_url: str = "postgresql://cityops@127.0.0.1:5432/cityops"
    db_pool_min: int = 1
    db_pool_max: int = 10
    outbox_min_drain_ms: float = Field(
        10.0, ge=0, le=1000,
        description="Outbox relay: at most one drain (one claim statement, one Kafka produce) per this many ms under "
                    "load; an idle relay drains at once.")
    stream_batch_ms: float = Field(
        10.0, ge=1, le=1000,
        description="Batching consumers (dispatch's incident view, notifications' fan-out): the events that arrive "
                    "within this many ms are handled as one batch (one transaction, one statement per kind); an "
                    "idle stream wakes once per interval, a busy one adds at most this much to an event's latency.")

    jwt_secret: str = Field(
        "", description="HS256 key for bearer tokens; required outside local (>= 32 chars, no built-in value)."
    )
    jwt_issuer: str = "cityops"
    jwt_audience: str = "cityops"
    # The city's identity provider (OIDC): RS256/ES256 tokens verified against its JWKS, beside HS256.
    jwt_jwks_url: str | None = Field(None, description="JWKS of the identity provider; unset = HS256 only.")
    jwt_idp_issuer: str | None = Field(None, description="`iss` of the identity provider's tokens.")
    jwt_idp_audience: str | None = Field(None, description="`aud` the identity provider's tokens must carry.")
    jwt_idp_algorithms: str = Field("RS256", description="Comma-separated asymmetric algorithms accepted.")
    jwt_idp_roles_claim: str = Field("roles", description="Claim with the roles; dotted path, e.g. realm_access.roles.")
    jwt_idp_role_map: str = Field(
        "", description="'idp-role:cityops-role,…'; empty = role names taken as they are."
    )
    jwt_idp_subject_claim: str = Field("sub", description="Claim naming the subject (e.g. preferred_username).")
    jwt_jwks_cache_seconds: int = Field(300, description="How long fetched keys are kept before a refetch.")
    jwt_jwks_timeout_seconds: float = Field(5.0, description="Timeout of one JWKS fetch.")
    jwt_jwks_refresh_min_seconds: float = Field(
        30.0, description="An unknown kid refetches the JWKS once, at most this often."
    )

    # gRPC server reflection: unset = on in local, off elsewhere.
    grpc_reflection: bool | None = None

    grpc_host: str = "127.0.0.1"
    grpc_port: int | None = None
    grpc_tls_cert: str | None = None
    grpc_tls_key: str | None = None
    grpc_tls_client_ca: str | None = None
    grpc_drain_seconds: float = 10.0
    gc_young_threshold: int = Field(
        10_000, ge=100, le=1_000_000,
        description="Net container allocations between young collections (CPython: 700); cityops_platform.heap.",
    )
    # Load spreading over api replicas (docs/deploy.md, "gRPC load"): servers end each connection after
    # this age (GOAWAY), so clients re-resolve and reach new replicas; in-flight calls get the grace.
    grpc_max_connection_age_seconds: float | None = Field(None, gt=0, description="None: connections never age out.")
    grpc_max_connection_age_grace_seconds: float | None = Field(None, ge=0)
    grpc_lb_policy: str = Field(
        "round_robin", pattern="^(round_robin|pick_first)$",
        description="Client load balancing over the addresses a target resolves to (dns:/// headless Services).",
    )
    grpc_readiness_interval_seconds: float = Field(
        5.0, gt=0, description="How often an api checks its Postgres for the readiness probe."
    )
    # Outbound calls (cityops_platform.grpc.client): a server CA turns TLS on; the client certificate
    # (mutual TLS) defaults to grpc_tls_cert/key.
    grpc_tls_server_ca: str | None = None
    grpc_tls_client_cert: str | None = None
    grpc_tls_client_key: str | None = None
    grpc_tls_server_name: str | None = None

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    metrics_port: int | None = None

    data_dir: str = ".run/data"
    # The city (cities/<city>/ under cities_dir; see cityops_platform.city). Read by the city loader
    # from the same variables, CITYOPS_CITY and CITYOPS_CITIES_DIR; listed here so they are documented.
    city: str = Field(default="", description="The city folder's name; empty = the one named by cities/DEFAULT.")
    cities_dir: str = Field(default="", description="The folder of city folders; empty = the project's cities/.")
    timezone: str = Field(default_factory=lambda: current_city().timezone)  # the city's unless set

    incidents_addr: str = "127.0.0.1:50051"
    dispatch_addr: str = "127.0.0.1:50052"
    sensors_addr: str = "127.0.0.1:50053"
    notifications_addr: str = "127.0.0.1:50054"
    rpc_timeout_seconds: float = 5.0
    # Server streams (WatchIncidents, WatchAlerts) one token subject may hold open per api process;
    # one more is FAILED_PRECONDITION (docs/security.md). 0 = unlimited.
    max_streams_per_principal: int = Field(default=4, ge=0)

    _jwt_secret_generated: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _check_signing_key(self) -> Settings:
        # A key that is given is checked in every environment (a public or short key is never
        # right); a missing one is made up in local, and refused by every serving process
        # elsewhere (require_signing_key). Commands that sign nothing (migrate, topics) may run without.
        secret = self.jwt_secret.strip()
        if not secret:
            if self.is_local:
                self.jwt_secret = _LOCAL_JWT_SECRET
                self._jwt_secret_generated = True
            return self
        problem = jwt_secret_problem(secret)
        if problem is not None:
            raise ConfigurationError(problem)
        return self

    def require_signing_key(self) -> None:
        """Raise ``ConfigurationError`` (bilingual) unless this process has a real signing key:
        every api, worker and the gateway call it before they start."""
        problem = jwt_secret_problem(self.jwt_secret.strip())
        if problem is not None:
            raise ConfigurationError(problem)

    @property
    def is_local(self) -> bool:
        return self.environment.strip().lower() == "local"

    @property
    def jwt_secret_generated(self) -> bool:
        """True when no key was given and this process made up the local city's random one."""
        return self._jwt_secret_generated

    @property
    def reflection_enabled(self) -> bool:
        """gRPC server reflection: the explicit setting, else on in local only."""
        return self.is_local if self.grpc_reflection is None else self.grpc_reflection

    def service_grpc_port(self, service: str) -> int:
        """The gRPC port for ``service``: the explicit setting, else the documented default."""
        if self.grpc_port is not None:
            return self.grpc_port
        return DEFAULT_GRPC_PORTS[service]

    def service_metrics_port(self, service: str, *, worker: bool = False) -> int:
        """The /metrics port: the explicit setting, else 9101+ per service (+10 for workers)."""
        if self.metrics_port is not None:
            return self.metrics_port
        return DEFAULT_METRICS_PORTS[service] + (WORKER_METRICS_OFFSET if worker else 0)


def jwt_secret_problem(secret: str) -> str | None:
    """Why ``secret`` may not sign tokens (bilingual), or None when it may."""
    if not secret:
        return (
            "Thiếu khoá ký token: đặt CITYOPS_JWT_SECRET (ít nhất 32 ký tự ngẫu nhiên) ngoài môi trường local. "
            "/ No token signing key: set CITYOPS_JWT_SECRET (at least 32 random characters) outside local."
        )
    if secret in KNOWN_PUBLIC_JWT_SECRETS:
        return (
            "CITYOPS_JWT_SECRET là khoá mặc định công khai, không được chấp nhận; tạo khoá ngẫu nhiên riêng. "
            "/ CITYOPS_JWT_SECRET is a public built-in default and is refused; generate a random key of your own."
        )
    if len(secret) < MIN_JWT_SECRET_LENGTH:
        return (
            f"CITYOPS_JWT_SECRET quá ngắn ({len(secret)} ký tự, cần ít nhất {MIN_JWT_SECRET_LENGTH}). "
            f"/ CITYOPS_JWT_SECRET is too short ({len(secret)} characters, at least {MIN_JWT_SECRET_LENGTH})."
        )
    return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
