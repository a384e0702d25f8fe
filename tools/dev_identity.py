"""The development OpenID Connect provider `make dev` runs for the console: one user per role.

A real provider for a real sign-in: discovery, published keys, the authorization code flow with PKCE
(S256 only) and single-use codes. Its sign-in page lists the users instead of asking a password. The ID
token is signed with a key made at start (RS256, published at /jwks); the access token is what the
services verify (HS256 with the signing secret `make dev` keeps, issuer and audience ``credo``),
carrying the user's roles. Not for production: there, configure the console with your own provider.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from libs.service.auth import mint_token

CODE_SECONDS = 60
TOKEN_HOURS = 8.0


@dataclass(frozen=True)
class DevUser:
    subject: str
    name: str
    roles: tuple[str, ...]


DEV_USERS = (
    DevUser("guest", "访客 Guest", ("viewer",)),
    DevUser("li", "李分析 Li (analyst)", ("credit_analyst",)),
    DevUser("mei", "梅催收 Mei (collector)", ("collector",)),
    DevUser("wang", "王经理 Wang (credit manager)", ("credit_manager",)),
    DevUser("zhao", "赵总监 Zhao (finance director)", ("finance_director",)),
    DevUser("admin", "管理员 Admin", ("admin",)),
)


@dataclass(frozen=True)
class Grant:
    user: DevUser
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    issued: float


def _challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def identity_provider(
    issuer: str, services_secret: str, clients: dict[str, tuple[str, list[str]]], users: tuple[DevUser, ...] = DEV_USERS
) -> Starlette:
    """The provider at ``issuer``; ``clients`` maps a client id to (its secret, its redirect URIs)."""
    issuer = issuer.rstrip("/")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = secrets.token_hex(8)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True) | {
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
    }
    grants: dict[str, Grant] = {}
    by_subject = {u.subject: u for u in users}

    def problem(status: int, error: str, description: str) -> JSONResponse:
        return JSONResponse({"error": error, "error_description": description}, status_code=status)

    async def discovery(_: Request) -> Response:
        return JSONResponse(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "jwks_uri": f"{issuer}/jwks",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "scopes_supported": ["openid", "profile"],
                "claims_supported": ["sub", "name", "roles"],
            }
        )

    async def jwks(_: Request) -> Response:
        return JSONResponse({"keys": [public]})

    def _checked(params: dict[str, str]) -> str | None:
        client = clients.get(params.get("client_id", ""))
        if client is None:
            return "unknown client_id"
        if params.get("redirect_uri") not in client[1]:
            return "redirect_uri is not registered for this client"
        if params.get("response_type") != "code":
            return "response_type must be code"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "PKCE with code_challenge_method S256 is required"
        if "openid" not in params.get("scope", "").split():
            return "the scope must include openid"
        return None

    async def authorize(request: Request) -> Response:
        given = request.query_params if request.method == "GET" else await request.form()
        params = {k: v for k, v in given.items() if isinstance(v, str)}
        wrong = _checked(params)
        if wrong is not None:
            return HTMLResponse(f"<h1>Sign-in refused</h1><p>{html.escape(wrong)}</p>", status_code=400)
        if request.method == "GET":
            return HTMLResponse(_sign_in_page(params, users))
        user = by_subject.get(params.get("user", ""))
        if user is None:
            return HTMLResponse("<h1>Sign-in refused</h1><p>choose one of the users</p>", status_code=400)
        code = secrets.token_urlsafe(32)
        grants[code] = Grant(
            user,
            params["client_id"],
            params["redirect_uri"],
            params["code_challenge"],
            params.get("nonce"),
            time.time(),
        )
        back = {"code": code, **({"state": params["state"]} if params.get("state") else {})}
        return RedirectResponse(f"{params['redirect_uri']}?{urlencode(back)}", status_code=303)

    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        client = clients.get(client_id)
        if client is None or not secrets.compare_digest(client[0], secret):
            return problem(401, "invalid_client", "unknown client or wrong secret")
        if form.get("grant_type") != "authorization_code":
            return problem(400, "unsupported_grant_type", "only authorization_code")
        grant = grants.pop(form.get("code", ""), None)  # a code is good once
        if grant is None or time.time() - grant.issued > CODE_SECONDS or grant.client_id != client_id:
            return problem(400, "invalid_grant", "the code is unknown, used or expired")
        if form.get("redirect_uri") != grant.redirect_uri:
            return problem(400, "invalid_grant", "redirect_uri differs from the authorization request's")
        if _challenge_of(form.get("code_verifier", "")) != grant.challenge:
            return problem(400, "invalid_grant", "the code_verifier does not match the code_challenge")
        now, user = int(time.time()), grant.user
        claims = {
            "iss": issuer,
            "sub": user.subject,
            "aud": client_id,
            "iat": now,
            "exp": now + int(TOKEN_HOURS * 3600),
            "name": user.name,
            "roles": list(user.roles),
            **({"nonce": grant.nonce} if grant.nonce else {}),
        }
        id_token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
        access = mint_token(services_secret, user.subject, list(user.roles), hours=TOKEN_HOURS)
        return JSONResponse(
            {
                "access_token": access,
                "id_token": id_token,
                "token_type": "Bearer",
                "expires_in": int(TOKEN_HOURS * 3600),
            },
            headers={"Cache-Control": "no-store"},
        )

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks", jwks),
            Route("/authorize", authorize, methods=["GET", "POST"]),
            Route("/token", token, methods=["POST"]),
        ]
    )


def _sign_in_page(params: dict[str, str], users: tuple[DevUser, ...]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k != "user"
    )
    buttons = "".join(
        f'<li><button type="submit" name="user" value="{html.escape(u.subject)}">{html.escape(u.name)}</button>'
        f" <small>{html.escape(', '.join(u.roles))}</small></li>"
        for u in users
    )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>Credo dev sign-in</title></head>'
        "<body><main><h1>Credo 开发登录 · development sign-in</h1>"
        "<p>选择用户 · Choose who signs in:</p>"
        f'<form method="post" action="authorize">{hidden}<ul>{buttons}</ul></form></main></body></html>'
    )
