"""The loops of the backbone (relay, sweeps, reactors) rest between rounds until woken or stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import structlog

log = structlog.get_logger(__name__)


async def rest(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    """Until ``wake`` or ``stop`` is set, or ``seconds`` pass. The caller clears ``wake`` before it
    looks for work, never after, so that a wake-up that came during a round starts the next at once."""
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    _, pending = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()


async def in_rounds(
    wake: asyncio.Event,
    stop: asyncio.Event,
    work: Callable[[], Awaitable[int]],
    until_next: Callable[[], Awaitable[float]],
    *,
    what: str,
    idle: float = 30.0,
) -> None:
    """Rounds of ``work`` until ``stop``: again at once while a round finds some, else a rest until
    woken or ``until_next()`` seconds pass. The database or the network away is logged, then tried
    again after ``idle`` seconds (or a wake-up)."""
    while not stop.is_set():
        wake.clear()
        pause = idle
        try:
            if await work():
                continue
            pause = await until_next()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning(f"{what}.unavailable", error=str(exc))
        await rest(wake, stop, pause)
