"""``CITYOPS_INCIDENTS_*``: what an operator tunes without touching the rules file (rules.py)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from cityops_platform.city import city_file
from cityops_platform.settings import ConfigurationError

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
    # HMAC key of the callers' phone hashes (text.phone_hash): required outside local, >= 32 chars.
    # Changing it makes every earlier report unfindable by phone, so it is kept like a database key.
    phone_hash_key: str = ""


# The local city's phone-hash key when none is set: public (it is in the source), so refused
# everywhere else. Fixed rather than random, so a local database's lookups survive a restart.
LOCAL_PHONE_HASH_KEY = "cityops-local-phone-hash-key-not-a-secret"
MIN_PHONE_HASH_KEY_LENGTH = 32


def phone_hash_key(own: IncidentsSettings, *, is_local: bool) -> bytes:
    """The key callers' phones are hashed with; ``ConfigurationError`` (bilingual) outside local
    when CITYOPS_INCIDENTS_PHONE_HASH_KEY is missing, public or short (as for the JWT key)."""
    key = own.phone_hash_key.strip()
    if not key and is_local:
        return LOCAL_PHONE_HASH_KEY.encode()
    if not key or key == LOCAL_PHONE_HASH_KEY:
        raise ConfigurationError(
            "Thiếu khoá băm số điện thoại: đặt CITYOPS_INCIDENTS_PHONE_HASH_KEY (ít nhất 32 ký tự ngẫu nhiên, "
            "không phải khoá local công khai) ngoài môi trường local. / No phone-hash key: set "
            "CITYOPS_INCIDENTS_PHONE_HASH_KEY (at least 32 random characters, not the public local key) outside local."
        )
    if len(key) < MIN_PHONE_HASH_KEY_LENGTH:
        raise ConfigurationError(
            f"CITYOPS_INCIDENTS_PHONE_HASH_KEY quá ngắn ({len(key)} ký tự, cần ít nhất {MIN_PHONE_HASH_KEY_LENGTH}). "
            f"/ CITYOPS_INCIDENTS_PHONE_HASH_KEY is too short ({len(key)} characters, at least "
            f"{MIN_PHONE_HASH_KEY_LENGTH})."
        )
    return key.encode()
