"""No development default works outside local, tried as an operator meets it: real `cityops`
processes in subprocesses, the real gateway's HTTP login, real gRPC servers and reflection."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cityops_devtools.city import cli_argv
from cityops_devtools.devstack import KafkaBroker
from cityops_devtools.devstack._process import free_port, spawn, tail, terminate
from cityops_platform import auth
from cityops_platform.grpc.server import create_server
from cityops_platform.settings import Settings

pytestmark = pytest.mark.integration

OLD_DEFAULT = "cityops-local-development-secret-change-me!"
CLI = [sys.executable, "-m", "cityops_platform.cli"]
REAL_KEY = "a-real-deployment-key-" + uuid.uuid4().hex


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    # Nothing listens there: a process that got past its checks would fail differently (or hang).
    env.update(CITYOPS_DATABASE_URL=f"postgresql://cityops@127.0.0.1:{free_port()}/none",
               CITYOPS_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}", CITYOPS_HTTP_PORT=str(free_port()),
               CITYOPS_GRPC_PORT=str(free_port()), CITYOPS_METRICS_PORT=str(free_port()))
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`cityops {' '.join(args)}` did not refuse to start: still running after {timeout}s "
                    f"({(exc.stderr or b'')[-400:]!r})")


@pytest.mark.parametrize("command", [["serve", "incidents"], ["worker", "dispatch"], ["serve", "gateway"]])
@pytest.mark.parametrize(
    ("secret", "expected"),
    [(None, "No token signing key"), (OLD_DEFAULT, "public built-in default"), ("short-key-123", "too short")],
)
def test_outside_local_a_process_without_a_real_key_refuses_to_start(
    command: list[str], secret: str | None, expected: str, tmp_path: Path
) -> None:
    extra = {"CITYOPS_ENVIRONMENT": "production"}
    if secret is not None:
        extra["CITYOPS_JWT_SECRET"] = secret
    result = _run(command, _env(**extra), tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert expected in result.stderr and "CITYOPS_JWT_SECRET" in result.stderr
    assert "Cấu hình không hợp lệ" in result.stderr, "Vietnamese first, English second"
    assert "Traceback" not in result.stderr


def test_dev_token_works_only_in_local(tmp_path: Path) -> None:
    result = _run(["dev-token", "--role", "admin"], _env(CITYOPS_ENVIRONMENT="production",
                                                         CITYOPS_JWT_SECRET=REAL_KEY), tmp_path)
    assert result.returncode == 2
    assert result.stdout.strip() == "", "no token may be printed outside local"
    assert "chỉ dùng cho môi trường local" in result.stderr and "works only in local" in result.stderr


def test_dev_token_in_local_signs_with_the_running_citys_key(tmp_path: Path) -> None:
    # No city running, no key given: a clear message, no token made with a key nobody checks.
    refused = _run(["dev-token", "--role", "operator"], _env(), tmp_path)
    assert refused.returncode == 2 and refused.stdout.strip() == ""
    assert "cityops up" in refused.stderr
    # `cityops up` writes its key to the run folder; dev-token (run from the checkout) reads it.
    key_file = tmp_path / ".run" / "city" / "jwt-secret"
    key_file.parent.mkdir(parents=True)
    key_file.write_text(REAL_KEY + "\n", encoding="utf-8")
    minted = _run(["dev-token", "--role", "operator", "--subject", "op-1"], _env(), tmp_path)
    assert minted.returncode == 0, minted.stderr
    principal = auth.TokenCodec(REAL_KEY).verify(minted.stdout.strip())
    assert principal.subject == "op-1" and principal.roles == {"operator"}
    # An explicit key wins over the file.
    other = "another-explicit-key-" + uuid.uuid4().hex
    explicit = _run(["dev-token", "--role", "operator"], _env(CITYOPS_JWT_SECRET=other), tmp_path)
    assert explicit.returncode == 0, explicit.stderr
    assert auth.TokenCodec(other).verify(explicit.stdout.strip()).roles == {"operator"}


@contextlib.contextmanager
def _gateway(kafka: KafkaBroker, run_dir: Path, **extra: str) -> Iterator[str]:
    port = free_port()
    env = _env(CITYOPS_KAFKA_BOOTSTRAP=kafka.bootstrap, CITYOPS_TOPIC_PREFIX=f"t{uuid.uuid4().hex[:10]}.",
               CITYOPS_HTTP_PORT=str(port), CITYOPS_DATA_DIR=str(run_dir / "data"), **extra)
    log_file = run_dir / "gateway.log"
    proc = spawn(cli_argv("serve", "gateway"), log_file=log_file, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gateway exited {proc.returncode}:\n{tail(log_file)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"gateway not ready:\n{tail(log_file)}")
            time.sleep(0.2)
        yield base
    finally:
        terminate(proc, 15, 20.0)


def test_the_bundled_console_accounts_log_in_only_in_local(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    credentials = {"username": "supervisor", "password": "supervisor-dev"}
    (tmp_path / "prod").mkdir()
    with _gateway(kafka_broker, tmp_path / "prod", CITYOPS_ENVIRONMENT="production",
                  CITYOPS_JWT_SECRET=REAL_KEY) as base:
        refused = httpx.post(f"{base}/api/login", json=credentials, timeout=30)
        assert refused.status_code == 401, refused.text
        assert "token" not in refused.json()
    (tmp_path / "local").mkdir()
    with _gateway(kafka_broker, tmp_path / "local", CITYOPS_ENVIRONMENT="local",
                  CITYOPS_JWT_SECRET=REAL_KEY) as base:
        accepted = httpx.post(f"{base}/api/login", json=credentials, timeout=30)
        assert accepted.status_code == 200, accepted.text
        assert "supervisor" in auth.TokenCodec(REAL_KEY).verify(accepted.json()["token"]).roles


def test_an_operators_users_file_is_used_outside_local(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    from cityops_gateway.users import hash_password

    users = tmp_path / "users.yaml"
    users.write_text(
        "users:\n  - username: truc.ban\n    display_name: Trực ban\n    roles: [supervisor]\n"
        f"    password_hash: '{hash_password('mật-khẩu-riêng-2026')}'\n", encoding="utf-8")
    with _gateway(kafka_broker, tmp_path, CITYOPS_ENVIRONMENT="production", CITYOPS_JWT_SECRET=REAL_KEY,
                  CITYOPS_GATEWAY_USERS_FILE=str(users)) as base:
        ok = httpx.post(f"{base}/api/login", json={"username": "truc.ban", "password": "mật-khẩu-riêng-2026"},
                        timeout=30)
        assert ok.status_code == 200, ok.text
        assert httpx.post(f"{base}/api/login", json={"username": "supervisor", "password": "supervisor-dev"},
                          timeout=30).status_code == 401


def _reflected_services(port: int) -> list[str] | grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        try:
            replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                                timeout=10)
            return [s.name for r in replies for s in r.list_services_response.service]
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[attr-defined, no-any-return]


@pytest.mark.parametrize(
    ("environment", "setting", "on"),
    [("local", None, True), ("production", None, False), ("local", False, False), ("staging", True, True)],
)
async def test_reflection_follows_the_setting_and_is_off_outside_local_by_default(
    environment: str, setting: bool | None, on: bool
) -> None:
    settings = Settings(environment=environment, jwt_secret=REAL_KEY, grpc_reflection=setting)
    running = await create_server("127.0.0.1:0", services=[], policy=auth.AccessPolicy({}),
                                  tokens=auth.TokenCodec.from_settings(settings),
                                  reflection_enabled=settings.reflection_enabled)
    try:
        import asyncio

        result = await asyncio.to_thread(_reflected_services, running.port)
    finally:
        await running.stop(0.2)
    if on:
        assert isinstance(result, list) and "grpc.health.v1.Health" in result, result
    else:
        assert result == grpc.StatusCode.UNIMPLEMENTED
