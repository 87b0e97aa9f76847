"""``CITYOPS_INCIDENTS_*``: what an operator tunes without touching the rules file (rules.py)."""

from __future__ import annotations

from pydantic import Field
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
    # Changing it makes earlier reports unfindable by phone unless the old key becomes the previous one.
    phone_hash_key: str = ""
    # The key before the last rotation (docs/security.md "Xoay khoá băm"): a caller is looked up
    # under both, and the rows found under this one are re-hashed with the current key. Empty: none.
    phone_hash_key_previous: str = ""
    # How long an idempotency key of TransitionIncident/AddNote (table request_keys) is kept. It must
    # outlive the longest time a console holds an action in its offline outbox plus its retries: a
    # replay after expiry is a new request (docs/incidents.md "Thời hạn khóa idempotency"). At least
    # one day, so that a value meant in hours cannot empty the table under a console still offline.
    request_key_retention_days: float = Field(default=7.0, ge=1.0)
    # The worker's sweep of expired keys: every so many seconds, in batches of so many rows (each
    # batch its own short transaction), at most ``..._max_batches`` batches per round.
    request_key_sweep_seconds: float = Field(default=600.0, gt=0)
    request_key_sweep_batch: int = Field(default=1000, ge=1, le=100_000)
    request_key_sweep_max_batches: int = Field(default=50, ge=1)


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
    _long_enough("CITYOPS_INCIDENTS_PHONE_HASH_KEY", key)
    return key.encode()


def previous_phone_hash_key(own: IncidentsSettings, *, is_local: bool) -> bytes | None:
    """The key before the last rotation (CITYOPS_INCIDENTS_PHONE_HASH_KEY_PREVIOUS), or None when
    unset or equal to the current key. Outside local it must be as long as a current key (a short
    one was never accepted as current, so it is a typo, refused at start rather than finding nothing)."""
    previous = own.phone_hash_key_previous.strip()
    if not previous or previous.encode() == phone_hash_key(own, is_local=is_local):
        return None
    if not is_local:
        _long_enough("CITYOPS_INCIDENTS_PHONE_HASH_KEY_PREVIOUS", previous)
    return previous.encode()


def _long_enough(name: str, key: str) -> None:
    if len(key) < MIN_PHONE_HASH_KEY_LENGTH:
        raise ConfigurationError(
            f"{name} quá ngắn ({len(key)} ký tự, cần ít nhất {MIN_PHONE_HASH_KEY_LENGTH}). "
            f"/ {name} is too short ({len(key)} characters, at least {MIN_PHONE_HASH_KEY_LENGTH})."
        )
