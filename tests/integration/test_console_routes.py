"""Every route of the console against who may reach it, and the sign-in itself over real HTTP with
the development provider: the authorization code with PKCE, a state bound to the browser, a code good
once, and no token in any URL or page."""

from __future__ import annotations

import re
from contextlib import AbstractAsyncContextManager
from urllib.parse import parse_qs, urlparse

import httpx
from fastapi import FastAPI

from libs.infra.embedded import free_port
from tests.support.console import CLIENT_ID, CLIENT_SECRET, console_served
from tests.support.routes import declared_routes

OPEN = "open"  # no session needed
SIGNED_IN = "signed in"  # a session; without one, to the sign-in
POSTED = "signed in, with the session's CSRF token"
ROUTES = {
    ("GET", "/health/live"): OPEN,
    ("GET", "/health/ready"): OPEN,
    ("GET", "/signin"): OPEN,
    ("GET", "/signin/callback"): OPEN,
    ("GET", "/signed-out"): OPEN,
    ("GET", "/favicon.ico"): OPEN,
    ("GET", "/vendor/{name}"): OPEN,
    ("POST", "/signout"): POSTED,
    ("POST", "/locale"): POSTED,
    ("GET", "/"): SIGNED_IN,
    ("GET", "/portfolio/kpis"): SIGNED_IN,
    ("GET", "/customers"): SIGNED_IN,
    ("GET", "/customers/{customer_id}"): SIGNED_IN,
    ("POST", "/customers/{customer_id}/limit-requests"): POSTED,
    ("POST", "/customers/{customer_id}/terms-requests"): POSTED,
    ("GET", "/customers/{customer_id}/statements/{statement_id}.pdf"): SIGNED_IN,
    ("POST", "/worklist/{customer_id}/plans"): POSTED,
    ("POST", "/policy/scoring/what-if"): POSTED,
    ("POST", "/policy/rules/what-if"): POSTED,
    ("GET", "/worklist"): SIGNED_IN,
    ("POST", "/worklist/{customer_id}/contacts"): POSTED,
    ("GET", "/approvals"): SIGNED_IN,
    ("POST", "/approvals/{customer_id}/{request_id}/{decision}"): POSTED,
    ("GET", "/alerts"): SIGNED_IN,
    ("POST", "/alerts/{alert_id}/{step}"): POSTED,
    ("GET", "/live/alerts"): SIGNED_IN,
    ("GET", "/policy"): SIGNED_IN,
    ("POST", "/policy/dunning/what-if"): POSTED,
}


def console_and_provider() -> AbstractAsyncContextManager[tuple[str, str, FastAPI]]:
    """No service answers at these addresses: these tests stop before the console calls one."""
    dead = f"http://127.0.0.1:{free_port()}"
    return console_served({s: dead for s in ("profiles", "receivables", "scoring", "collections", "alerts")})


async def sign_in(http: httpx.AsyncClient, console: str, user: str) -> list[str]:
    """Through the provider's page as a browser would; every URL the browser was sent to."""
    visited = []
    start = await http.get(f"{console}/signin", params={"next": "/policy"})
    assert start.status_code == 303
    authorize = start.headers["location"]
    visited.append(authorize)
    page = await http.get(authorize)
    assert page.status_code == 200
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    chosen = await http.post(authorize.split("?")[0], data={**fields, "user": user})
    assert chosen.status_code == 303
    visited.append(chosen.headers["location"])
    back = await http.get(chosen.headers["location"])
    assert back.status_code == 303, back.text
    assert back.headers["location"] == "/policy"
    cookie = back.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    return visited


async def test_every_route_of_the_console_is_guarded_as_the_table_says() -> None:
    async with console_and_provider() as (console, _, app):
        routes = declared_routes(app)
        assert sorted(set(routes) - set(ROUTES)) == [], "routes without an entry"
        assert sorted(set(ROUTES) - set(routes)) == [], "entries without a route"
        async with httpx.AsyncClient() as anonymous:
            for (method, template), guard in ROUTES.items():
                path = template.replace("{", "").replace("}", "")
                answer = await anonymous.request(method, f"{console}{path}")
                if guard == OPEN:
                    assert answer.status_code not in (401, 403), (method, template, answer.status_code)
                else:
                    assert answer.status_code == 303, (method, template, answer.status_code)
                    assert answer.headers["location"].startswith("/signin"), (method, template)

        async with httpx.AsyncClient() as browser:
            await sign_in(browser, console, "guest")
            for (_, template), guard in ROUTES.items():
                if guard != POSTED:
                    continue
                path = template.replace("{", "").replace("}", "")
                forged = await browser.post(f"{console}{path}", data={"note": "x"})
                assert forged.status_code == 403, (template, forged.status_code)
                assert "CSRF" in forged.text


async def test_the_sign_in_keeps_tokens_out_of_urls_and_refuses_what_it_did_not_start() -> None:
    async with console_and_provider() as (console, issuer, _):
        async with httpx.AsyncClient() as browser:
            visited = await sign_in(browser, console, "mei")
            for url in visited:
                query = parse_qs(urlparse(url).query)
                assert not {"access_token", "id_token", "token"} & set(query), url
            callback = visited[-1]
            assert "code=" in callback

            # The same callback again: the state was used, the code too.
            again = await browser.get(callback)
            assert again.status_code == 400

        async with httpx.AsyncClient() as other:
            # A callback this browser never started (login CSRF) is refused.
            start = await other.get(f"{console}/signin")
            state = parse_qs(urlparse(start.headers["location"]).query)["state"][0]
            async with httpx.AsyncClient() as attacker_victim:
                refused = await attacker_victim.get(f"{console}/signin/callback", params={"code": "c", "state": state})
                assert refused.status_code == 400
                assert "not started in this browser" in refused.text

        # The provider refuses a code redeemed without its PKCE verifier.
        async with httpx.AsyncClient() as raw:
            page = await raw.get(
                f"{issuer}/authorize",
                params={
                    "response_type": "code",
                    "client_id": CLIENT_ID,
                    "redirect_uri": f"{console}/signin/callback",
                    "scope": "openid",
                    "state": "s",
                    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                    "code_challenge_method": "S256",
                },
            )
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
            chosen = await raw.post(f"{issuer}/authorize", data={**fields, "user": "wang"})
            code = parse_qs(urlparse(chosen.headers["location"]).query)["code"][0]
            token = {"grant_type": "authorization_code", "code": code, "redirect_uri": f"{console}/signin/callback"}
            wrong = await raw.post(
                f"{issuer}/token", data={**token, "code_verifier": "not-the-verifier"}, auth=(CLIENT_ID, CLIENT_SECRET)
            )
            assert wrong.status_code == 400
            assert "code_verifier" in wrong.json()["error_description"]
            plain = await raw.get(
                f"{issuer}/authorize",
                params={**fields, "code_challenge_method": "plain"},
            )
            assert plain.status_code == 400  # S256 only
