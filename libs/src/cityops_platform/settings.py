"""Settings come from the environment only (twelve-factor), prefixed ``CITYOPS_``."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    jwt_secret: str = Field("cityops-local-development-secret-change-me!", description="HS256 key for bearer tokens.")
    jwt_issuer: str = "cityops"
    jwt_audience: str = "cityops"

    grpc_host: str = "127.0.0.1"
    grpc_port: int | None = None
    grpc_tls_cert: str | None = None
    grpc_tls_key: str | None = None
    grpc_tls_client_ca: str | None = None
    grpc_drain_seconds: float = 10.0
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
    timezone: str = "Asia/Ho_Chi_Minh"

    incidents_addr: str = "127.0.0.1:50051"
    dispatch_addr: str = "127.0.0.1:50052"
    sensors_addr: str = "127.0.0.1:50053"
    notifications_addr: str = "127.0.0.1:50054"
    rpc_timeout_seconds: float = 5.0
    # Server streams (WatchIncidents, WatchAlerts) one token subject may hold open per api process;
    # one more is FAILED_PRECONDITION (docs/security.md). 0 = unlimited.
    max_streams_per_principal: int = Field(default=4, ge=0)

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
