"""Scheduled sweeps: time-driven facts emitted once per business date.

An invoice falling overdue or a promise being broken is a fact of the passing of a business
day. A sweep handles one business date at a time; the scheduler runs it for every date from
the one after the last it completed up to today by the business clock, in order, so a
service that was down, or a clock moved forward for a demo, catches up day by day. One
replica sweeps at a time (advisory lock). A sweep must be idempotent for a date, since a
crash after its events were appended but before the date was recorded runs that date again;
deciding through the event store's expected-version check gives that for free.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import asyncpg
import structlog

from libs.events.clock import BusinessClock
from libs.events.database import advisory_key
from libs.events.waiting import rest

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Sweep:
    name: str
    run: Callable[[date], Awaitable[int]]  # handles one business date; returns events emitted


def dates_due(swept_through: date | None, today: date) -> list[date]:
    """The business dates still to sweep: none twice, none skipped, none in the future."""
    if swept_through is None:
        return [today]
    return [swept_through + timedelta(days=n) for n in range(1, (today - swept_through).days + 1)]


class SweepScheduler:
    def __init__(
        self, pool: asyncpg.Pool, clock: BusinessClock, sweeps: Sequence[Sweep], *, interval: float = 60.0
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.sweeps = list(sweeps)
        self.interval = interval
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Sweep now, for instance after the business clock was moved."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.run_due()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("sweep.unavailable", error=str(exc))
            await rest(self._wake, stop, self.interval)

    async def run_due(self) -> dict[str, int]:
        """Run every sweep for its due dates; returns the events each emitted."""
        emitted: dict[str, int] = {}
        for sweep in self.sweeps:
            emitted[sweep.name] = await self._run_one(sweep)
        return emitted

    async def _run_one(self, sweep: Sweep) -> int:
        total = 0
        async with self.pool.acquire() as conn:
            key = advisory_key(f"sweep:{sweep.name}")
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                return 0  # another replica is sweeping
            try:
                swept = await conn.fetchval("SELECT swept_through FROM sweeps WHERE name = $1", sweep.name)
                for day in dates_due(swept, self.clock.today()):
                    emitted = await sweep.run(day)
                    await conn.execute(
                        "INSERT INTO sweeps (name, swept_through) VALUES ($1, $2) ON CONFLICT (name)"
                        " DO UPDATE SET swept_through = excluded.swept_through, updated_at = now()",
                        sweep.name,
                        day,
                    )
                    total += emitted
                    log.info("sweep.done", sweep=sweep.name, business_date=day.isoformat(), events=emitted)
            finally:
                with contextlib.suppress(Exception):
                    await conn.execute("SELECT pg_advisory_unlock($1)", key)
        return total
