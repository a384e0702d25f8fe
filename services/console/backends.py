"""The five services as the console calls them: over HTTP, with the signed-in user's own token.

A service's refusal comes back as :class:`Refused` with its problem document, so that the page can
say what the service said; the console never retries a refused command under other credentials.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from services.console.sessions import Session
from services.console.settings import SERVICES, ConsoleSettings
from services.console.timing import upstream


class Refused(Exception):
    """A service answered 4xx: ``problem`` is its problem+json document."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or problem.get("title") or str(status))
        self.status = status
        self.problem = problem

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or self.status)

    @property
    def kind(self) -> str:
        """What the refusal is, by its problem type's last part ("refused", "not-found", ...)."""
        return str(self.problem.get("type") or "").rstrip("/").rpartition("/")[2]


class Unavailable(Exception):
    """A service did not answer, or answered 5xx."""


class Backends:
    def __init__(self, settings: ConsoleSettings) -> None:
        timeout = httpx.Timeout(settings.service_timeout_seconds, connect=5.0)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        self.clients = {
            name: httpx.AsyncClient(base_url=settings.service_url(name), timeout=timeout, limits=limits)
            for name in SERVICES
        }

    async def close(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.clients.values()))

    async def get(self, session: Session, service: str, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None and v != ""}
        return await self._send(session, service, "GET", path, params=query)

    async def maybe(self, session: Session, service: str, path: str, **params: Any) -> Any | None:
        """As :meth:`get`, None where the service has nothing there (404)."""
        try:
            return await self.get(session, service, path, **params)
        except Refused as refused:
            if refused.status == 404:
                return None
            raise

    async def post(
        self, session: Session, service: str, path: str, body: Mapping[str, Any], idempotency_key: str | None = None
    ) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return await self._send(session, service, "POST", path, json=dict(body), headers=headers)

    async def document(self, session: Session, service: str, path: str) -> tuple[bytes, str]:
        """A file a service serves (a PDF), with its content type."""
        response = await self._answered(session, service, "GET", path)
        return response.content, response.headers.get("content-type", "application/octet-stream")

    def stream(self, session: Session, path: str, last_event_id: str | None) -> Any:
        """The alerts service's event stream, opened with the user's token (an async context manager)."""
        headers = self._auth(session) | {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        timeout = httpx.Timeout(None, connect=5.0)
        return self.clients["alerts"].stream("GET", path, headers=headers, timeout=timeout)

    @staticmethod
    def _auth(session: Session) -> dict[str, str]:
        return {"Authorization": f"Bearer {session.access_token}"}

    async def _send(self, session: Session, service: str, method: str, path: str, **kw: Any) -> Any:
        response = await self._answered(session, service, method, path, **kw)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    async def _answered(self, session: Session, service: str, method: str, path: str, **kw: Any) -> httpx.Response:
        """The service's 2xx answer; its refusal as :class:`Refused`, its silence or 5xx as :class:`Unavailable`."""
        headers = self._auth(session) | kw.pop("headers", {})
        try:
            with upstream():
                response = await self.clients[service].request(method, path, headers=headers, **kw)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{service}: {exc.__class__.__name__}") from None
        if response.status_code >= 500:
            raise Unavailable(f"{service} answered {response.status_code}")
        if response.status_code >= 400:
            raise Refused(response.status_code, _problem(response))
        return response


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        problem = response.json()
    except ValueError:
        return {"title": response.reason_phrase, "detail": response.text[:300]}
    return problem if isinstance(problem, dict) else {"detail": str(problem)}
