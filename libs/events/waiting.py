"""The loops of the backbone (relay, sweeps, reactors) rest between rounds until woken or stopped."""

from __future__ import annotations

import asyncio


async def rest(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    """Until ``wake`` or ``stop`` is set, or ``seconds`` pass. The caller clears ``wake`` before it
    looks for work, never after, so that a wake-up that came during a round starts the next at once."""
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
    _, pending = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()
