"""How long the console took for a page, and how much of it it waited on the services: a
``Server-Timing`` header (``app`` the whole, ``upstream`` the time some service call was in flight),
so a browser's developer tools and the benchmark read the same figures."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_calls: contextvars.ContextVar[list[tuple[float, float]] | None] = contextvars.ContextVar("calls", default=None)


@contextmanager
def upstream() -> Iterator[None]:
    """Around a call to a service: its interval counts towards the request's upstream time."""
    started = time.perf_counter()
    try:
        yield
    finally:
        found = _calls.get()
        if found is not None:
            found.append((started, time.perf_counter()))


def covered(intervals: list[tuple[float, float]]) -> float:
    """The time at least one interval was open (calls made at once count once)."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


class ServerTiming:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, calls = time.perf_counter(), list[tuple[float, float]]()
        token = _calls.set(calls)

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                whole = (time.perf_counter() - started) * 1000
                value = f"app;dur={whole:.1f}, upstream;dur={covered(calls) * 1000:.1f}"
                message.setdefault("headers", []).append((b"server-timing", value.encode()))
            await send(message)

        try:
            await self.app(scope, receive, timed)
        finally:
            _calls.reset(token)
