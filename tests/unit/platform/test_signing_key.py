"""The signing key and the defaults that must never reach a deployment (pure rules of Settings)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from cityops_devtools.localcity import share_signing_key
from cityops_platform.settings import ConfigurationError, Settings

OLD_DEFAULT = "cityops-local-development-secret-change-me!"
REAL_KEY = "k" * 20 + "0123456789abcdefXYZ"


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CITYOPS_JWT_SECRET", "CITYOPS_ENVIRONMENT", "CITYOPS_GRPC_REFLECTION"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_outside_local_a_process_without_a_key_refuses_to_start_in_both_languages(environment: str) -> None:
    settings = Settings(environment=environment)
    with pytest.raises(ConfigurationError) as err:
        settings.require_signing_key()
    message = str(err.value)
    assert "Thiếu khoá ký token" in message and "No token signing key" in message
    assert "CITYOPS_JWT_SECRET" in message


@pytest.mark.parametrize("environment", ["local", "production"])
def test_the_old_built_in_key_is_refused_everywhere(environment: str) -> None:
    with pytest.raises(ValidationError) as err:
        Settings(environment=environment, jwt_secret=OLD_DEFAULT)
    assert "khoá mặc định công khai" in str(err.value) and "public built-in default" in str(err.value)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValidationError) as err:
        Settings(environment="production", jwt_secret="x" * 31)
    assert "quá ngắn (31 ký tự" in str(err.value) and "too short (31 characters" in str(err.value)


def test_a_real_key_is_accepted_outside_local() -> None:
    settings = Settings(environment="production", jwt_secret=REAL_KEY)
    settings.require_signing_key()
    assert settings.jwt_secret == REAL_KEY and not settings.jwt_secret_generated


def test_local_without_a_key_makes_up_a_random_one_shared_by_the_process() -> None:
    first, second = Settings(), Settings()
    assert first.jwt_secret_generated and len(first.jwt_secret) >= 32
    assert first.jwt_secret != OLD_DEFAULT
    assert first.jwt_secret == second.jwt_secret, "one key per process, so in-process parts agree"
    first.require_signing_key()


def test_reflection_is_on_in_local_and_off_elsewhere_unless_set() -> None:
    assert Settings().reflection_enabled is True
    assert Settings(environment="production", jwt_secret=REAL_KEY).reflection_enabled is False
    assert Settings(grpc_reflection=False).reflection_enabled is False
    assert Settings(environment="staging", jwt_secret=REAL_KEY, grpc_reflection=True).reflection_enabled is True


def test_cityops_up_writes_a_fresh_key_readable_only_by_its_owner(tmp_path: Path) -> None:
    first = share_signing_key(tmp_path)
    path = tmp_path / "jwt-secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text(encoding="utf-8").strip() == first and len(first) >= 32
    second = share_signing_key(tmp_path)
    assert second != first, "a new run, a new key"


def test_cityops_up_keeps_a_key_given_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOPS_JWT_SECRET", REAL_KEY)
    assert share_signing_key(tmp_path) == REAL_KEY
