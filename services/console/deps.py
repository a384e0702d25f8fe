"""What the pages share: the console's state, who is signed in, the CSRF check and rendering."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, Form, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from services.console import signin
from services.console.backends import Backends
from services.console.i18n import LOCALES, helpers
from services.console.sessions import Session, Sessions
from services.console.settings import ConsoleSettings, Locale

HERE = Path(__file__).parent
ASSETS = HERE / "node_modules"
SESSION_COOKIE = "credo_session"
SIGN_IN_COOKIE = "credo_signin"
LOCALE_COOKIE = "credo_locale"
# Scripts, styles and charts come from the console itself; nothing from elsewhere, nothing inline.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
VENDOR = {  # URL path under /vendor -> the npm package's file
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "sse.js": "htmx-ext-sse/sse.js",
    "echarts.min.js": "echarts/dist/echarts.min.js",
}


class SignInNeeded(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class Console:
    """What the pages share: settings, the provider, the sessions, the services and the templates."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.sessions = Sessions()
        self.backends = Backends(settings)
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(15.0))
        self.provider: signin.Provider | None = None
        self.templates = Jinja2Templates(directory=HERE / "templates")

    async def provider_of(self) -> signin.Provider:
        if self.provider is None:  # read once, when first needed: the provider may start after the console
            self.provider = await signin.discover(self.http, self.settings.oidc_issuer)
        return self.provider

    def locale_of(self, request: Request) -> Locale:
        chosen = request.cookies.get(LOCALE_COOKIE)
        for known in LOCALES:
            if chosen == known:
                return known
        return self.settings.default_locale

    def render(
        self, request: Request, template: str, session: Session | None, code: int = 200, **context: Any
    ) -> HTMLResponse:
        locale = self.locale_of(request)
        values = {
            "request": request,
            "session": session,
            "locale": locale,
            "locales": LOCALES,
            "path": request.url.path,
            **helpers(locale),
            **context,
        }
        response = self.templates.TemplateResponse(request, template, values, status_code=code)
        response.headers.update(SECURITY_HEADERS)
        return response

    def cookie(self, response: Response, name: str, value: str, max_age: int | None = None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            secure=self.settings.secure_cookies,
            samesite="lax",  # sent on the provider's redirect back, a top-level GET; never on a cross-site POST
            path="/",
        )


def console_of(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


ConsoleDep = Annotated[Console, Depends(console_of)]


def current_session(request: Request, console: ConsoleDep) -> Session:
    session = console.sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(target if request.method == "GET" else "/")
    return session


SessionDep = Annotated[Session, Depends(current_session)]


async def checked_session(request: Request, session: SessionDep, csrf: Annotated[str | None, Form()] = None) -> Session:
    """The session of a form post whose CSRF token (field ``csrf`` or header ``X-CSRF-Token``) is its own."""
    given = csrf or request.headers.get("X-CSRF-Token") or ""
    if not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise HTTPException(403, "the form's CSRF token is missing or not this session's; reload the page")
    return session


PostedSession = Annotated[Session, Depends(checked_session)]


def safe_next(path: str | None) -> str:
    """Only a path of this console: never an address elsewhere (an open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def new_form_key() -> str:
    """A form's idempotency key: the same form sent twice is applied once by the service."""
    return secrets.token_urlsafe(18)
