"""The console's application: sign-in and sign-out, the locale, static assets, errors and the pages."""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlencode

import httpx
import structlog
from fastapi import FastAPI, Form, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from services.console import pages, signin
from services.console.backends import Refused, Unavailable
from services.console.deps import (
    ASSETS,
    HERE,
    LOCALE_COOKIE,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    VENDOR,
    Console,
    PostedSession,
    SignInNeeded,
    safe_next,
)
from services.console.i18n import CHOICES, LOCALES
from services.console.settings import ConsoleSettings
from services.console.timing import ServerTiming

log = structlog.get_logger()


def create_app(settings: ConsoleSettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await console.backends.close()
        await console.http.aclose()

    console = Console(settings)
    app = FastAPI(title="Credo console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = console
    app.add_middleware(ServerTiming)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/vendor/{name}", include_in_schema=False)
    async def vendor(name: str) -> Response:
        if name not in VENDOR:
            raise HTTPException(404, "no such asset")
        return FileResponse(
            ASSETS / VENDOR[name], media_type="text/javascript", headers={"Cache-Control": "max-age=3600"}
        )

    @app.exception_handler(SignInNeeded)
    async def sign_in_first(request: Request, exc: SignInNeeded) -> Response:
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": "/signin"})
        return RedirectResponse("/signin?" + urlencode({"next": exc.next_path}), status_code=303)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> Response:
        log.warning("service unavailable", detail=str(exc))
        session = console.sessions.get(request.cookies.get(SESSION_COOKIE))
        template = "_refused.html" if request.headers.get("HX-Request") else "error.html"
        return console.render(request, template, session, 503, kind="unavailable", detail=str(exc))

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        session = console.sessions.get(request.cookies.get(SESSION_COOKIE))
        if exc.status == 401 and session is not None:  # the token expired or was revoked: sign in again
            console.sessions.end(session.sid)
            return RedirectResponse("/signin", status_code=303)
        kind = "forbidden" if exc.status == 403 else "refused"
        reason = exc.kind if exc.kind in CHOICES["problem"] else None
        template = "_refused.html" if request.headers.get("HX-Request") else "error.html"
        return console.render(request, template, session, exc.status, kind=kind, reason=reason, detail=exc.detail)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        session = console.sessions.get(request.cookies.get(SESSION_COOKIE))
        template = "_refused.html" if request.headers.get("HX-Request") else "error.html"
        return console.render(request, template, session, exc.status_code, kind="refused", detail=str(exc.detail))

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> Response:
        """Ready once the provider's discovery document has been read: sign-in can begin."""
        try:
            await console.provider_of()
        except (httpx.HTTPError, signin.SignInFailed, KeyError, ValueError) as exc:
            detail = {"status": "waiting", "checks": {"identity provider": str(exc)[:200] or type(exc).__name__}}
            return JSONResponse(detail, status_code=503)
        return JSONResponse({"status": "ok", "checks": {"identity provider": "ok"}})

    @app.get("/signin", include_in_schema=False)
    async def sign_in(request: Request, next: str | None = None) -> Response:
        provider = await console.provider_of()
        pending = console.sessions.begin(safe_next(next))
        response = RedirectResponse(signin.authorization_url(provider, settings, pending), status_code=303)
        console.cookie(response, SIGN_IN_COOKIE, pending.state, max_age=600)  # binds the sign-in to this browser
        return response

    @app.get("/signin/callback", include_in_schema=False)
    async def callback(
        request: Request, code: str | None = None, state: str | None = None, error: str | None = None
    ) -> Response:
        bound = request.cookies.get(SIGN_IN_COOKIE) or ""
        if error or not code or not state or not hmac.compare_digest(bound.encode(), state.encode()):
            detail = error or "this sign-in was not started in this browser, or is incomplete"
            return console.render(request, "error.html", None, 400, kind="refused", detail=detail)
        pending = console.sessions.finish(state)
        if pending is None:
            return console.render(request, "error.html", None, 400, kind="refused", detail="the sign-in expired")
        try:
            identity, token, expires_at = await signin.redeem(
                console.http, await console.provider_of(), settings, code, pending
            )
        except signin.SignInFailed as failed:
            log.warning("sign-in refused", reason=str(failed))
            return console.render(request, "error.html", None, 400, kind="refused", detail=str(failed))
        session = console.sessions.open(identity, token, expires_at)
        log.info("signed in", subject=identity.subject, roles=sorted(identity.roles))
        response = RedirectResponse(pending.next_path, status_code=303)
        console.cookie(response, SESSION_COOKIE, session.sid, max_age=int(settings.session_hours * 3600))
        response.delete_cookie(SIGN_IN_COOKIE, path="/")
        return response

    @app.post("/signout", include_in_schema=False)
    async def sign_out(request: Request, session: PostedSession) -> Response:
        console.sessions.end(session.sid)
        response = console.render(request, "signed_out.html", None)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.post("/locale", include_in_schema=False)
    async def choose_locale(
        request: Request, _: PostedSession, locale: Annotated[str, Form()], back: Annotated[str, Form()] = "/"
    ) -> Response:
        if locale not in LOCALES:
            raise HTTPException(422, f"locale must be one of {', '.join(LOCALES)}")
        response = RedirectResponse(safe_next(back), status_code=303)
        response.set_cookie(LOCALE_COOKIE, locale, max_age=365 * 86400, samesite="lax", path="/")
        return response

    app.include_router(pages.router)
    return app
