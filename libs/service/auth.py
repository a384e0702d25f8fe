"""Who is calling: OAuth2 bearer JWTs for people, API keys for the ERP and other machines.

Tokens carry ``sub`` and a ``roles`` list from viewer, credit_analyst, collector,
credit_manager, finance_director, erp and admin (admin may do everything). Health and metrics
are the only routes open without either. Development tokens: ``make token`` (``tools/token.py``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

import jwt
import structlog
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from libs.service.errors import Problem
from libs.service.settings import ROLES, ServiceSettings

VERIFIED_TOKENS = 4096  # tokens remembered once verified, the oldest forgotten first


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    kind: str  # "user" or "client"

    def may(self, *roles: str) -> bool:
        return "admin" in self.roles or bool(self.roles.intersection(roles))


class Authenticator:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        if settings.jwt_algorithm == "HS256":
            assert settings.jwt_secret is not None
            self._key: str = settings.jwt_secret.get_secret_value()
        else:
            assert settings.jwt_public_key is not None
            self._key = settings.jwt_public_key
        self._api_keys = settings.api_key_table()
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()  # token -> (caller, expiry)

    def from_token(self, token: str) -> Principal:
        # Verifying a signature costs more than many a request; a token verified once stands
        # until it expires, so recent ones are remembered.
        remembered = self._verified.get(token)
        if remembered is not None and remembered[1] > time.time():
            return remembered[0]
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self.settings.jwt_algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise _unauthorized(f"the token is not valid: {exc}") from None
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise _unauthorized("the token's roles claim is not a list of role names")
        found = Principal(str(claims["sub"]), frozenset(r for r in roles if r in ROLES), "user")
        self._verified[token] = (found, float(claims["exp"]))
        if len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)
        return found

    def from_api_key(self, key: str) -> Principal:
        found = self._api_keys.get(key)
        if found is None:
            raise _unauthorized("unknown API key")
        name, roles = found
        return Principal(name, frozenset(roles), "client")


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="credo"'})


_bearer = HTTPBearer(auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


async def principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    return authenticate(request.app.state.kit.auth, bearer.credentials if bearer else None, api_key)


def authenticate(authenticator: Authenticator, bearer: str | None, api_key: str | None) -> Principal:
    """The caller from a bearer token, or else an API key; a 401 problem without either."""
    if bearer is not None:
        return authenticator.from_token(bearer)
    if api_key:
        return authenticator.from_api_key(api_key)
    raise _unauthorized("a bearer token or an X-API-Key is required")


def admit(caller: Principal, roles: Sequence[str]) -> Principal:
    """``caller`` if it holds one of ``roles`` (admin always); a 403 problem otherwise. The caller is
    bound to the request's log lines and becomes the actor of the events it causes."""
    structlog.contextvars.bind_contextvars(actor=caller.subject)
    if not caller.may(*roles):
        raise Problem(
            403,
            "Forbidden",
            f"this needs one of the roles {', '.join(roles)}",
            kind="forbidden",
            your_roles=sorted(caller.roles),
        )
    return caller


def require(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers with any of ``roles`` (admin always)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    async def check(caller: Annotated[Principal, Depends(principal)]) -> Principal:
        return admit(caller, roles)

    return check


def mint_token(
    secret: str,
    subject: str,
    roles: list[str],
    *,
    hours: float = 8,
    issuer: str = "credo",
    audience: str = "credo",
    algorithm: str = "HS256",
) -> str:
    now = int(time.time())
    claims = {
        "sub": subject,
        "roles": roles,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + int(hours * 3600),
    }
    return jwt.encode(claims, secret, algorithm=algorithm)
