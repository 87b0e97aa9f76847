"""Operator accounts for the console's login: scrypt password hashes in a YAML file.

This is the local and fallback login. In production the city's identity provider (OIDC) should
issue the tokens; the console only needs a bearer JWT with CityOps roles either way.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

from cityops_platform.auth import ALL_ROLES
from cityops_platform.settings import Settings

log = logging.getLogger("cityops.gateway")
# The development accounts (supervisor/supervisor-dev, …) shipped with the gateway: local only.
BUNDLED_USERS_FILE = Path(__file__).resolve().parent / "config" / "users.yaml"

# n=2**14, r=8: ~16 MiB and tens of milliseconds per check, the usual interactive-login cost.
_N, _R, _P = 2**14, 8, 1
_SCHEME = "scrypt"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt_hex$hash_hex`` for ``password`` (a fresh random salt by default)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"{_SCHEME}${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of ``password`` against ``encoded``; a malformed hash never matches."""
    try:
        scheme, n, r, p, salt_hex, hash_hex = encoded.split("$")
        if scheme != _SCHEME:
            return False
        expected = bytes.fromhex(hash_hex)
        digest = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(digest, expected)


@dataclass(frozen=True)
class Operator:
    """A person who may sign in to the console."""

    username: str
    display_name: str
    roles: tuple[str, ...]
    password_hash: str


class UserDirectory:
    """The accounts of one YAML file: ``users: [{username, display_name, roles, password_hash}]``."""

    # Checked against when the username is unknown, so both paths cost the same time.
    _DUMMY = hash_password("not-a-user", salt=b"\x00" * 16)

    def __init__(self, operators: list[Operator]) -> None:
        self._by_name = {op.username.casefold(): op for op in operators}

    @classmethod
    def load(cls, path: Path) -> UserDirectory:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        operators: list[Operator] = []
        for entry in raw.get("users", []):
            roles = tuple(str(r) for r in entry.get("roles", []))
            unknown = sorted(set(roles) - ALL_ROLES)
            if unknown:
                raise ValueError(f"{path}: user {entry.get('username')!r} has unknown roles {unknown}")
            operators.append(
                Operator(
                    username=str(entry["username"]),
                    display_name=str(entry.get("display_name") or entry["username"]),
                    roles=roles,
                    password_hash=str(entry["password_hash"]),
                )
            )
        return cls(operators)

    @classmethod
    def for_environment(cls, path: Path, settings: Settings) -> UserDirectory:
        """The accounts of ``path``; outside local the bundled development accounts are never
        loaded: the operator's own file (``CITYOPS_GATEWAY_USERS_FILE``) or the identity provider."""
        if not settings.is_local and Path(path).resolve() == BUNDLED_USERS_FILE:
            log.warning(
                "development accounts not loaded outside local; console login needs CITYOPS_GATEWAY_USERS_FILE "
                "or the identity provider",
                extra={"environment": settings.environment},
            )
            return cls([])
        return cls.load(path)

    def authenticate(self, username: str, password: str) -> Operator | None:
        """The operator when the password matches, else None (same cost for unknown names)."""
        operator = self._by_name.get(username.strip().casefold())
        if operator is None:
            verify_password(password, self._DUMMY)
            return None
        return operator if verify_password(password, operator.password_hash) else None

    def __len__(self) -> int:
        return len(self._by_name)
