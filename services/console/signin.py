"""OpenID Connect for the console: the authorization code flow with PKCE (S256), state and nonce.

The ID token says who signed in and, in a configured claim, their roles; it is checked against the
provider's published keys. The access token is kept for the calls to the services, which verify it
themselves: the console passes on the user's own credentials and never mints any.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from libs.service.settings import ROLES
from services.console.sessions import Identity, PendingSignIn
from services.console.settings import ConsoleSettings

ID_TOKEN_ALGORITHMS = ["RS256", "ES256", "PS256"]


class SignInFailed(Exception):
    """The provider's answer cannot be accepted; the message says why."""


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


async def discover(http: httpx.AsyncClient, issuer: str) -> Provider:
    response = await http.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
    response.raise_for_status()
    found = response.json()
    if found.get("issuer") != issuer.rstrip("/") and found.get("issuer") != issuer:
        raise SignInFailed(f"the provider at {issuer} names itself {found.get('issuer')!r}")
    if "S256" not in found.get("code_challenge_methods_supported", ["S256"]):
        raise SignInFailed("the provider does not support PKCE with S256")
    return Provider(
        issuer=found["issuer"],
        authorization_endpoint=found["authorization_endpoint"],
        token_endpoint=found["token_endpoint"],
        jwks_uri=found["jwks_uri"],
        end_session_endpoint=found.get("end_session_endpoint"),
    )


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def redirect_uri(settings: ConsoleSettings) -> str:
    return settings.public_url.rstrip("/") + "/signin/callback"


def authorization_url(provider: Provider, settings: ConsoleSettings, pending: PendingSignIn) -> str:
    query = {
        "response_type": "code",
        "client_id": settings.oidc_client_id,
        "redirect_uri": redirect_uri(settings),
        "scope": settings.oidc_scope,
        "state": pending.state,
        "nonce": pending.nonce,
        "code_challenge": code_challenge(pending.verifier),
        "code_challenge_method": "S256",
    }
    return f"{provider.authorization_endpoint}?{urlencode(query)}"


async def redeem(
    http: httpx.AsyncClient, provider: Provider, settings: ConsoleSettings, code: str, pending: PendingSignIn
) -> tuple[Identity, str, float]:
    """The code exchanged at the token endpoint: who signed in, their access token and its expiry."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri(settings),
        "client_id": settings.oidc_client_id,
        "code_verifier": pending.verifier,
    }
    if settings.oidc_client_secret is None:  # a public client: PKCE alone
        response = await http.post(provider.token_endpoint, data=form)
    else:
        secret = settings.oidc_client_secret.get_secret_value()
        response = await http.post(provider.token_endpoint, data=form, auth=(settings.oidc_client_id, secret))
    if response.status_code != 200:
        raise SignInFailed(f"the provider refused the code: {response.status_code} {response.text[:300]}")
    tokens = response.json()
    if not isinstance(tokens.get("access_token"), str) or not isinstance(tokens.get("id_token"), str):
        raise SignInFailed("the provider's answer lacks an access token or an ID token")
    claims = await _verified_id_token(http, provider, settings, tokens["id_token"])
    if claims.get("nonce") != pending.nonce:
        raise SignInFailed("the ID token's nonce is not the one this sign-in sent")
    expires_in = float(tokens.get("expires_in", 3600))
    expires_at = min(time.time() + expires_in, time.time() + settings.session_hours * 3600)
    return identity_of(claims, settings.oidc_roles_claim), tokens["access_token"], expires_at


async def _verified_id_token(
    http: httpx.AsyncClient, provider: Provider, settings: ConsoleSettings, id_token: str
) -> dict[str, Any]:
    response = await http.get(provider.jwks_uri)
    response.raise_for_status()
    keys = jwt.PyJWKSet.from_dict(response.json())
    try:
        kid = jwt.get_unverified_header(id_token).get("kid")
        key = next((k for k in keys.keys if kid is None or k.key_id == kid), None)
        if key is None:
            raise SignInFailed(f"the provider publishes no key {kid!r}")
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key.key,
            algorithms=ID_TOKEN_ALGORITHMS,
            audience=settings.oidc_client_id,
            issuer=provider.issuer,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.InvalidTokenError as exc:
        raise SignInFailed(f"the ID token is not valid: {exc}") from None
    return claims


def identity_of(claims: dict[str, Any], roles_claim: str) -> Identity:
    roles = claims.get(roles_claim, [])
    if isinstance(roles, str):
        roles = roles.split()
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise SignInFailed(f"the ID token's {roles_claim} claim is not a list of role names")
    name = claims.get("name") or claims.get("preferred_username") or claims["sub"]
    return Identity(str(claims["sub"]), str(name), frozenset(r for r in roles if r in ROLES))
