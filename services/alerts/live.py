"""The live stream's heartbeat: one listener per process on the projection's ``alerts_changed``
notifications (sent on commit), waking every stream and the deliverer at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from services.alerts.projections import CHANGED

log = structlog.get_logger(__name__)


class Hub:
    def __init__(self, database_url: str, on_change: Callable[[], None] = lambda: None) -> None:
        self.database_url = database_url
        self.on_change = on_change
        self._tick = asyncio.Event()

    def _changed(self, *_: Any) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()
        self.on_change()

    async def changed(self, within: float) -> None:
        """Wait for the next alert event committed, or ``within`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._tick.wait(), within)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                conn = await asyncpg.connect(self.database_url)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("alerts.listener_unavailable", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                continue
            try:
                await conn.add_listener(CHANGED, self._changed)
                self._changed()  # whatever committed while nobody listened
                while not stop.is_set() and not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
