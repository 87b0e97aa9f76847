"""Bearer JWTs and role-based access control.

Every RPC carries ``authorization: Bearer <JWT>``. The token names a subject and its roles.
Access is **denied by default**: a method must be listed in the service's policy, with the roles
allowed to call it. The actor of every change is taken from the token, never from the request.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import jwt

from cityops_platform.bounded import LruMap
from cityops_platform.errors import PermissionDenied

if TYPE_CHECKING:
    from cityops_platform.settings import Settings

log = logging.getLogger("cityops.auth")

# What a caller is told when its token is refused, whatever the reason: the reason goes to the
# audit log and the ``reason`` label of cityops_auth_denials_total, never back to the caller.
GENERIC_AUTH_MESSAGE = "Chưa xác thực (unauthenticated)"


class Role(StrEnum):
    CITIZEN = "citizen"
    CALL_TAKER = "call_taker"
    OPERATOR = "operator"
    DISPATCHER = "dispatcher"
    SUPERVISOR = "supervisor"
    FIELD_UNIT = "field_unit"
    SENSOR_GATEWAY = "sensor_gateway"
    INTEGRATOR = "integrator"
    ADMIN = "admin"


ALL_ROLES: frozenset[str] = frozenset(r.value for r in Role)
# The roles of people who work in the operations center; many read RPCs are open to all of them.
STAFF: frozenset[str] = frozenset(
    {Role.CALL_TAKER, Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN}
)


class AuthError(Exception):
    """The token is missing, malformed, expired or badly signed: UNAUTHENTICATED.

    ``reason`` is a short fixed word for metrics (``cityops_auth_denials_total``): missing_token,
    malformed_header, expired_token or invalid_token.
    """

    def __init__(self, message: str, *, reason: str = "invalid_token") -> None:
        super().__init__(message)
        self.reason = reason


class AccessDenied(Exception):
    """The token is valid but its roles do not allow the method: PERMISSION_DENIED.

    ``reason``: role_not_allowed, or method_closed when no role may call the method.
    """

    def __init__(self, message: str, *, reason: str = "role_not_allowed") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject and roles."""

    subject: str
    roles: frozenset[str]
    token_id: str = ""
    claims: Mapping[str, object] = field(default_factory=dict)
    # The verified bearer token itself, for calls made on this caller's behalf with its own rights
    # (dispatch's EIDO import → incidents); never logged, never compared.
    token: str = field(default="", repr=False, compare=False)

    @property
    def primary_role(self) -> str:
        """The first role, in the fixed order of ``Role``: used to label the actor in audit trails."""
        for role in Role:
            if role.value in self.roles:
                return role.value
        return ""

    def has_any(self, roles: Iterable[str]) -> bool:
        return not self.roles.isdisjoint(roles)

    def binding(self, claim: str) -> str:
        """The object this credential is bound to (``unit_id``, ``gateway_id``, ``cad_id``), or ""."""
        value = self.claims.get(claim)
        return value.strip() if isinstance(value, str) else ""


# Claims that bind a credential to one object (docs/security.md, "object-level authorization"):
# a field unit's token to its unit, a sensor gateway's to its gateway id, a CAD's to its CAD id.
BINDING_CLAIMS: frozenset[str] = frozenset({"unit_id", "gateway_id", "cad_id"})


def bound_object(principal: Principal, *, role: str, claim: str, unbound: Iterable[str], refusal: str) -> str | None:
    """The object a bound credential is limited to, or None when the caller is not limited.

    A caller holding ``role`` (``field_unit``, ``sensor_gateway``) and none of the ``unbound``
    roles may act only on the object its ``claim`` names (``unit_id``, ``gateway_id``). A bound
    role's token without the claim is refused (``PermissionDenied`` with ``refusal``), never
    treated as unbound. Used by every service that checks objects (docs/security.md).
    """
    if role not in principal.roles or principal.has_any(unbound):
        return None
    value = principal.binding(claim)
    if not value:
        raise PermissionDenied(refusal)
    return value


SYSTEM = Principal(subject="system", roles=frozenset({Role.ADMIN.value}))

_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "cityops_principal", default=None
)


def current_principal() -> Principal:
    """The caller of the RPC being served (set by the auth interceptor); ``SYSTEM`` elsewhere."""
    return _current.get() or SYSTEM


def set_current_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _current.set(principal)


VERIFIED_CACHE_SIZE = 4096
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"})


@dataclass(frozen=True)
class IdentityProvider:
    """The city's identity provider (OIDC): its tokens are checked against the keys of its JWKS.

    ``roles_claim`` is a dotted path (``realm_access.roles``); ``role_map`` renames the provider's
    roles to CityOps roles (a provider role absent from a non-empty map grants nothing).
    """

    jwks_url: str
    issuer: str
    audience: str
    algorithms: tuple[str, ...] = ("RS256",)
    roles_claim: str = "roles"
    role_map: Mapping[str, str] = field(default_factory=dict)
    subject_claim: str = "sub"
    cache_seconds: int = 300
    timeout_seconds: float = 5.0
    # An unknown kid refetches the key set once (the provider rotated its keys), at most this
    # often: tokens with made-up kids must not turn into a stream of requests to the provider.
    refresh_min_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> IdentityProvider | None:
        """The provider configured by ``CITYOPS_JWT_JWKS_URL`` and friends; None when not set."""
        if not settings.jwt_jwks_url:
            return None
        if not settings.jwt_idp_issuer or not settings.jwt_idp_audience:
            raise ValueError(
                "CITYOPS_JWT_JWKS_URL cần CITYOPS_JWT_IDP_ISSUER và CITYOPS_JWT_IDP_AUDIENCE "
                "/ CITYOPS_JWT_JWKS_URL needs CITYOPS_JWT_IDP_ISSUER and CITYOPS_JWT_IDP_AUDIENCE"
            )
        algorithms = tuple(a.strip() for a in settings.jwt_idp_algorithms.split(",") if a.strip())
        bad = [a for a in algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if bad or not algorithms:
            raise ValueError(f"CITYOPS_JWT_IDP_ALGORITHMS: chỉ thuật toán bất đối xứng (asymmetric only): {bad}")
        role_map: dict[str, str] = {}
        for item in settings.jwt_idp_role_map.split(","):
            source, sep, target = item.strip().partition(":")
            if not sep:
                continue
            if target.strip() not in ALL_ROLES:
                raise ValueError(f"CITYOPS_JWT_IDP_ROLE_MAP: vai trò không tồn tại (unknown role) {target!r}")
            role_map[source.strip()] = target.strip()
        return cls(
            jwks_url=settings.jwt_jwks_url,
            issuer=settings.jwt_idp_issuer,
            audience=settings.jwt_idp_audience,
            algorithms=algorithms,
            roles_claim=settings.jwt_idp_roles_claim,
            role_map=role_map,
            subject_claim=settings.jwt_idp_subject_claim,
            cache_seconds=settings.jwt_jwks_cache_seconds,
            timeout_seconds=settings.jwt_jwks_timeout_seconds,
            refresh_min_seconds=settings.jwt_jwks_refresh_min_seconds,
        )

    def roles_of(self, claims: Mapping[str, Any]) -> frozenset[str]:
        """The CityOps roles named by the provider's claim (unknown ones dropped)."""
        value: Any = claims
        for part in self.roles_claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str):
            value = value.split()
        if not isinstance(value, list):
            return frozenset()
        names = [r for r in value if isinstance(r, str)]
        if self.role_map:
            names = [self.role_map[r] for r in names if r in self.role_map]
        return frozenset(r for r in names if r in ALL_ROLES)


class TokenCodec:
    """Issues and verifies HS256 tokens with a shared secret, issuer and audience; with an
    ``IdentityProvider`` it also verifies the provider's asymmetric tokens (JWKS)."""

    def __init__(
        self,
        secret: str,
        *,
        issuer: str = "cityops",
        audience: str = "cityops",
        identity_provider: IdentityProvider | None = None,
    ) -> None:
        if len(secret) < 32:
            raise ValueError("JWT secret must be at least 32 characters (HS256)")
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._idp = identity_provider
        # PyJWKClient keeps the fetched key set for cache_seconds; _signing_key refetches it once
        # for an unknown kid (at most every refresh_min_seconds).
        self._jwks = (
            jwt.PyJWKClient(
                identity_provider.jwks_url,
                cache_jwk_set=True,
                lifespan=max(1, identity_provider.cache_seconds),
                timeout=identity_provider.timeout_seconds,
            )
            if identity_provider is not None
            else None
        )
        self._last_refresh = float("-inf")
        # Verified tokens → principal. A busy client sends the same token on every call, and the
        # signature check and claim parsing are a large share of a small RPC's CPU. An entry is
        # used only until the token's own expiry; the cache is bounded (least recently used out).
        self._verified: LruMap[str, Principal] = LruMap(VERIFIED_CACHE_SIZE)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCodec:
        """The codec a process uses: its HS256 key, issuer, audience and identity provider."""
        return cls(
            settings.jwt_secret,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            identity_provider=IdentityProvider.from_settings(settings),
        )

    def issue(
        self, subject: str, roles: Iterable[str], *, ttl_seconds: int = 12 * 3600,
        bindings: Mapping[str, str] | None = None,
    ) -> str:
        """A signed token for ``subject`` with ``roles``; unknown roles are refused.

        ``bindings`` adds object-binding claims (``unit_id``, ``gateway_id``, ``cad_id``: see
        ``BINDING_CLAIMS``); an unknown binding name or an empty value is refused.
        """
        role_list = sorted(set(roles))
        unknown = [r for r in role_list if r not in ALL_ROLES]
        if unknown:
            raise ValueError(f"unknown roles: {', '.join(unknown)}")
        now = int(time.time())
        claims = {
            "sub": subject,
            "roles": role_list,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        for name, value in (bindings or {}).items():
            if name not in BINDING_CLAIMS or not str(value).strip():
                raise ValueError(f"unknown or empty binding claim: {name}")
            claims[name] = str(value).strip()
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; ``AuthError`` for anything else."""
        cached = self._verified.get(token)
        if cached is not None:
            if time.time() < float(cached.claims["exp"]):  # type: ignore[arg-type]
                return cached
            self._verified.pop(token)
        principal = self._verify_signed(token)
        self._verified.put(token, principal)
        return principal

    def _verify_signed(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        if header.get("alg") != "HS256":
            return self._verify_from_provider(token, header)
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["sub", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired", reason="expired_token") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        roles = claims.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise AuthError("invalid token: roles must be a list of strings")
        return Principal(
            subject=str(claims["sub"]),
            roles=frozenset(r for r in roles if r in ALL_ROLES),
            token_id=str(claims.get("jti", "")),
            claims=claims,
            token=token,
        )

    def _verify_from_provider(self, token: str, header: Mapping[str, Any]) -> Principal:
        idp, jwks = self._idp, self._jwks
        if idp is None or jwks is None:
            raise AuthError(f"invalid token: algorithm {header.get('alg')!r} not accepted", reason="invalid_token")
        if header.get("alg") not in idp.algorithms:
            raise AuthError(f"invalid token: algorithm {header.get('alg')!r} not accepted", reason="invalid_token")
        key = self._signing_key(jwks, idp, header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=list(idp.algorithms),
                issuer=idp.issuer,
                audience=idp.audience,
                options={"require": ["exp", "iat", idp.subject_claim]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired", reason="expired_token") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        return Principal(
            subject=str(claims[idp.subject_claim]),
            roles=idp.roles_of(claims),
            token_id=str(claims.get("jti", "")),
            claims=claims,
            token=token,
        )

    def _signing_key(self, jwks: jwt.PyJWKClient, idp: IdentityProvider, kid: object) -> jwt.PyJWK:
        """The provider's key named ``kid``: from the cached set, else from one refetch."""
        if not isinstance(kid, str) or not kid:
            raise AuthError("invalid token: no kid in the header", reason="unknown_key")
        try:
            key = _find_key(jwks.get_signing_keys(), kid)
            if key is None and time.monotonic() - self._last_refresh >= idp.refresh_min_seconds:
                self._last_refresh = time.monotonic()
                key = _find_key(jwks.get_signing_keys(refresh=True), kid)
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("identity provider keys unavailable", extra={"error": str(exc)})
            raise AuthError(f"identity provider keys unavailable: {exc}", reason="jwks_unavailable") from exc
        except jwt.PyJWKClientError as exc:
            raise AuthError(f"identity provider keys unusable: {exc}", reason="jwks_unavailable") from exc
        if key is None:
            raise AuthError(f"invalid token: unknown kid {kid!r}", reason="unknown_key")
        return key

    def principal_from_metadata(self, authorization: str | None) -> Principal:
        """Parse an ``authorization`` header value (``Bearer <JWT>``)."""
        if not authorization:
            raise AuthError("missing authorization metadata (expected 'Bearer <JWT>')", reason="missing_token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("authorization must be 'Bearer <JWT>'", reason="malformed_header")
        return self.verify(token.strip())


def _find_key(keys: Iterable[jwt.PyJWK], kid: str) -> jwt.PyJWK | None:
    return next((k for k in keys if k.key_id == kid), None)


# Methods that need no token: Kubernetes probes and tooling call them.
PUBLIC_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class AccessPolicy:
    """Which roles may call which method. Anything not listed is denied."""

    def __init__(self, rules: Mapping[str, Iterable[str]]) -> None:
        self._rules = {method: frozenset(roles) for method, roles in rules.items()}

    @classmethod
    def for_service(cls, service: str, rules: Mapping[str, Iterable[str]]) -> AccessPolicy:
        """Rules keyed by short method name (``ReportIncident``) for one fully named service."""
        return cls({f"/{service}/{method}": roles for method, roles in rules.items()})

    def merged(self, other: AccessPolicy) -> AccessPolicy:
        return AccessPolicy({**self._rules, **other._rules})

    def is_public(self, method: str) -> bool:
        return method.startswith(PUBLIC_METHOD_PREFIXES)

    def check(self, method: str, principal: Principal) -> None:
        """Raise ``AccessDenied`` unless one of the principal's roles may call ``method``."""
        allowed = self._rules.get(method)
        if allowed is None:
            raise AccessDenied(f"method {method} is not open to any role", reason="method_closed")
        if not principal.has_any(allowed):
            raise AccessDenied(
                f"vai trò {sorted(principal.roles)} không được phép gọi {method} "
                f"(roles not permitted)"
            )

    @property
    def methods(self) -> frozenset[str]:
        return frozenset(self._rules)

    def allowed_roles(self, method: str) -> frozenset[str]:
        return self._rules.get(method, frozenset())
