"""``cityops``: the one command for running, operating and developing the city.

  cityops up                       the whole local city (Kafka, Postgres, every api and worker, gateway)
  cityops serve <service>          a gRPC api (or the gateway's HTTP server)
  cityops worker <service>         a Faust stream worker
  cityops migrate [<service>…]     apply numbered SQL migrations
  cityops topics apply             create or update the Kafka topics of the catalog
  cityops dev-token --role R       a bearer token that the local stack accepts
  cityops health --addr H:P        gRPC health check (exit 0 when SERVING)
  cityops rules replay --rules F   what-if: recorded reports through candidate incident rules
  cityops phone-keys status        callers' phone hashes by key (after a phone-hash key rotation)
  cityops --version                the installed version
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import platform
import sys
from pathlib import Path

from pydantic import ValidationError

from cityops_platform import auth
from cityops_platform.city import CityNotFound
from cityops_platform.runtime import ALL_PROCESSES, SERVICES, migrations_dir, service_module
from cityops_platform.settings import ConfigurationError, Settings, get_settings

DEFAULT_RUN_DIR = ".run/city"
# Where `cityops up` keeps the local city's random signing key (mode 0600) for `cityops dev-token`.
JWT_SECRET_FILE = "jwt-secret"


def _installed(service: str) -> bool:
    return importlib.util.find_spec(f"cityops_{service}") is not None


def _signed_settings(service: str) -> Settings | None:
    """The settings to run ``service`` with (a signing key is required), or None (said on stderr)
    when the service is not installed."""
    if not _installed(service):
        print(f"dịch vụ chưa được cài đặt (service not installed): {service}", file=sys.stderr)
        return None
    settings = get_settings()
    settings.require_signing_key()
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _signed_settings(args.service)
    if settings is None:
        return 2
    server = service_module(args.service, "server")
    asyncio.run(server.serve(settings))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _signed_settings(args.service)
    if settings is None:
        return 2
    from cityops_platform.worker import run_worker

    run_worker(args.service, settings)


def cmd_migrate(args: argparse.Namespace) -> int:
    from cityops_platform.db.migrations import migrate

    settings = get_settings()
    unknown = [s for s in args.services if s not in SERVICES]
    if unknown:
        print(f"dịch vụ không tồn tại (unknown service): {', '.join(unknown)}", file=sys.stderr)
        return 2
    targets = args.services or [s for s in SERVICES if _installed(s)]

    async def run() -> None:
        for service in targets:
            applied = await migrate(settings.database_url, service, migrations_dir(service))
            print(f"{service:<14} {len(applied)} migration(s) applied" + (f": {', '.join(applied)}" if applied else ""))

    asyncio.run(run())
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from cityops_platform.kafka.admin import apply_topics

    settings = get_settings()
    rows = asyncio.run(apply_topics(settings, replication_factor=args.replication_factor))
    width = max(len(name) for name, _ in rows)
    for name, action in rows:
        print(f"{name:<{width}}  {action}")
    print(f"{len(rows)} chủ đề (topics) @ {settings.kafka_bootstrap}")
    return 0


def cmd_dev_token(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.is_local:
        print(
            f"dev-token chỉ dùng cho môi trường local (CITYOPS_ENVIRONMENT={settings.environment}); "
            "token thật do nhà cung cấp định danh cấp. / dev-token works only in local; real tokens come "
            "from the identity provider.",
            file=sys.stderr,
        )
        return 2
    if settings.jwt_secret_generated:
        # No key given: the running local city's key, written by `cityops up` to its run folder.
        key_file = Path(args.secret_file)
        try:
            secret = key_file.read_text(encoding="utf-8").strip()
        except OSError:
            print(
                f"Không tìm thấy khoá ký của thành phố local ({key_file}): chạy `cityops up` (make run) trước, "
                "hoặc đặt CITYOPS_JWT_SECRET / --secret-file. / The local city's signing key was not found "
                f"({key_file}): run `cityops up` (make run) first, or set CITYOPS_JWT_SECRET / --secret-file.",
                file=sys.stderr,
            )
            return 2
        settings = settings.model_copy(update={"jwt_secret": secret})
    codec = auth.TokenCodec(settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    subject = args.subject or f"dev-{args.role[0]}"
    bindings = {name: value for name, value in (("unit_id", args.unit_id), ("gateway_id", args.gateway_id),
                                                ("cad_id", args.cad_id)) if value}
    print(codec.issue(subject, args.role, ttl_seconds=args.ttl, bindings=bindings))
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    def _read(path: str | None) -> bytes | None:
        if not path:
            return None
        with open(path, "rb") as handle:
            return handle.read()

    if args.tls_ca:
        # TLS (and mutual TLS with a client certificate): how Kubernetes probes a TLS server (exec).
        creds = grpc.ssl_channel_credentials(
            root_certificates=_read(args.tls_ca), private_key=_read(args.tls_key),
            certificate_chain=_read(args.tls_cert),
        )
        options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
        channel_cm = grpc.secure_channel(args.addr, creds, options=options)
    else:
        channel_cm = grpc.insecure_channel(args.addr)
    with channel_cm as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout)
        except grpc.RpcError as exc:
            print(f"{args.addr}: {exc.code().name}", file=sys.stderr)
            return 1
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    print(f"{args.addr}: {name}")
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1


def cmd_rules_replay(args: argparse.Namespace) -> int:
    if not _installed("incidents"):
        print("dịch vụ chưa được cài đặt (service not installed): incidents", file=sys.stderr)
        return 2
    return int(service_module("incidents", "replay.cli").run(args))


def cmd_phone_keys_status(args: argparse.Namespace) -> int:
    if not _installed("incidents"):
        print("dịch vụ chưa được cài đặt (service not installed): incidents", file=sys.stderr)
        return 2
    return int(service_module("incidents", "phone_keys").run(args))


def cmd_wards_backfill(args: argparse.Namespace) -> int:
    from cityops_platform.db.pool import create_pool
    from cityops_platform.geo.admin_units import admin_units
    from cityops_platform.geo.backfill import TARGETS, backfill

    unknown = [s for s in args.services if s not in TARGETS]
    if unknown:
        print(f"dịch vụ không có phường/xã (no ward columns): {', '.join(unknown)}", file=sys.stderr)
        return 2
    settings = get_settings()
    units = admin_units()

    async def run() -> None:
        for service in args.services or list(TARGETS):
            pool = await create_pool(settings.database_url, TARGETS[service].schema, max_size=2)
            try:
                n = await backfill(pool, TARGETS[service], units)
            finally:
                await pool.close()
            print(f"{service:<14} {n} row(s) given their ward")

    asyncio.run(run())
    return 0


def cmd_city_configmap(args: argparse.Namespace) -> int:
    import yaml

    from cityops_platform.city.configmap import city_configmap

    folder = Path(args.folder)
    doc = city_configmap(folder, name=args.name or f"cityops-city-{folder.name}", namespace=args.namespace)
    print(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), end="")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from cityops_platform.city import current_city

    try:
        from cityops_devtools.localcity import run_local_city
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("cityops_devtools"):
            raise
        print(
            "`cityops up` cần gói công cụ phát triển cityops-devtools (không có trong image); chạy `make setup` "
            "trong bản checkout. / `cityops up` needs the cityops-devtools package (not in the images); "
            "run `make setup` in a checkout.",
            file=sys.stderr,
        )
        return 2

    city = current_city()  # a missing or broken city folder stops here, before anything starts
    print(f"▶ Thành phố (city): {city.name} — {city.text(city.branding.title)}", flush=True)

    return run_local_city(run_dir=args.run_dir, simulate=not args.no_simulate)


def version_text() -> str:
    """"cityops 0.1.0 (Python 3.11.7)": the installed cityops-platform distribution."""
    try:
        version = importlib.metadata.version("cityops-platform")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown (not installed)"
    return f"cityops {version} (Python {platform.python_version()})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cityops",
        description="CityOps — Trung tâm Điều hành Thông minh (Integrated Operations Center)",
    )
    parser.add_argument("--version", action="version", version=version_text(),
                        help="in phiên bản rồi thoát (print the version and exit)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="chạy gRPC api của một dịch vụ (run a service's api)")
    p.add_argument("service", choices=ALL_PROCESSES)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="chạy Faust worker (run a stream worker)")
    p.add_argument("service", choices=SERVICES)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("migrate", help="áp dụng migration SQL (apply migrations)")
    p.add_argument("services", nargs="*", metavar="service", help=", ".join(SERVICES))
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("wards", help="phường/xã của dữ liệu cũ (wards of rows from before 2025's units)")
    wsub = p.add_subparsers(dest="action", required=True)
    pw = wsub.add_parser("backfill", help="gán phường/xã cho hàng cũ (fill the ward of older rows)")
    pw.add_argument("services", nargs="*", metavar="service", help="incidents, dispatch, sensors (default: all)")
    pw.set_defaults(func=cmd_wards_backfill)

    p = sub.add_parser("topics", help="quản lý chủ đề Kafka (Kafka topics)")
    tsub = p.add_subparsers(dest="action", required=True)
    pa = tsub.add_parser("apply", help="tạo hoặc cập nhật chủ đề (create or update topics)")
    pa.add_argument("--replication-factor", type=int, default=1)
    pa.set_defaults(func=cmd_topics)

    p = sub.add_parser("dev-token", help="in token JWT cho môi trường local (print a dev token)")
    p.add_argument("--role", action="append", required=True, choices=sorted(auth.ALL_ROLES))
    p.add_argument("--subject")
    p.add_argument("--ttl", type=int, default=12 * 3600)
    p.add_argument("--secret-file", default=str(Path(DEFAULT_RUN_DIR) / JWT_SECRET_FILE),
                   help="khoá của thành phố local khi không đặt CITYOPS_JWT_SECRET (the local city's key file)")
    p.add_argument("--unit-id", help="gắn token field_unit với đơn vị này (claim unit_id)")
    p.add_argument("--gateway-id", help="gắn token sensor_gateway với cổng này (claim gateway_id)")
    p.add_argument("--cad-id", help="định danh CAD ngoài của token integrator (claim cad_id)")
    p.set_defaults(func=cmd_dev_token)

    p = sub.add_parser("health", help="kiểm tra gRPC health (check gRPC health)")
    p.add_argument("--addr", required=True)
    p.add_argument("--service", default="")
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--tls-ca", default=None, help="CA of the server's certificate: check over TLS")
    p.add_argument("--tls-cert", default=None, help="client certificate (mutual TLS)")
    p.add_argument("--tls-key", default=None, help="client key (mutual TLS)")
    p.add_argument("--server-name", default=None, help="name expected in the server's certificate")
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("rules", help="luật nghiệp vụ sự cố (incident rules)")
    rsub = p.add_subparsers(dest="action", required=True)
    pr = rsub.add_parser("replay", help="phát lại phản ánh qua luật thử (what-if replay of recorded reports)")
    pr.add_argument("--rules", required=True, help="luật thử (candidate rules.yaml)")
    pr.add_argument("--since", default="7d", help="khoảng thời gian gần nhất, ví dụ 7d, 12h (default 7d)")
    pr.add_argument("--baseline", default=None, help="luật hiện hành (default: CITYOPS_INCIDENTS_RULES_FILE)")
    pr.add_argument("--samples", type=int, default=20, help="số phản ánh thay đổi in ra (changed reports shown)")
    pr.add_argument("--database-url", default=None, help="default: CITYOPS_DATABASE_URL")
    pr.set_defaults(func=cmd_rules_replay)

    p = sub.add_parser("phone-keys", help="khóa băm số điện thoại người gọi (callers' phone-hash keys)")
    ksub = p.add_subparsers(dest="action", required=True)
    pk = ksub.add_parser("status", help="số báo cáo theo khóa băm (reports by hash key, before retiring one)")
    pk.add_argument("--database-url", default=None, help="default: CITYOPS_DATABASE_URL")
    pk.set_defaults(func=cmd_phone_keys_status)

    p = sub.add_parser("city-configmap",
                       help="in ConfigMap của một thư mục thành phố (print a city folder as a ConfigMap)")
    p.add_argument("folder", help="a city folder, e.g. cities/<name>")
    p.add_argument("--name", default="", help="default: cityops-city-<folder name>")
    p.add_argument("--namespace", default="")
    p.set_defaults(func=cmd_city_configmap)

    p = sub.add_parser("up", help="chạy cả thành phố trên máy này (run the whole local city)")
    p.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    p.add_argument("--no-simulate", action="store_true", help="không chạy bộ mô phỏng (no simulator)")
    p.set_defaults(func=cmd_up)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CityNotFound as exc:
        print(f"✘ Không có thành phố (no such city): {exc}", file=sys.stderr)
        return 2
    except ConfigurationError as exc:
        print(f"✘ Cấu hình không hợp lệ (invalid configuration):\n  • {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        # A setting that must not start a process (no signing key outside local, …): say why, no traceback.
        print("✘ Cấu hình không hợp lệ (invalid configuration):", file=sys.stderr)
        for error in exc.errors():
            print(f"  • {str(error['msg']).removeprefix('Value error, ')}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
