"""The tally relay and consumer as processes of their own, for crash tests.

    python -m tests.support.processes relay    DSN BOOTSTRAP
    python -m tests.support.processes consumer DSN BOOTSTRAP TOPIC
    python -m tests.support.processes timed-consumer DSN BOOTSTRAP TOPIC   (records when each event was projected)

``CREDO_FAILPOINTS`` in the environment makes them kill themselves at a named point.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Mapping

import uvloop

from libs.events.consumer import ConsumerRunner
from libs.events.database import create_pool
from libs.events.outbox import Relay
from libs.service.logging import configure_logging
from tests.support import tally

CONSUMER_NAME = "reader.balances"


async def _run(kind: str, dsn: str, bootstrap: str, topic: str | None) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    pool = await create_pool(dsn)
    if kind == "relay":
        await Relay(pool, dsn, bootstrap, source=tally.SOURCE, batch_size=250, poll_interval=0.2).run(stop)
    else:
        assert topic is not None
        timed = kind == "timed-consumer"
        if timed:
            await pool.execute(
                "CREATE TABLE IF NOT EXISTS projected_at (event_id uuid PRIMARY KEY, occurred_at timestamptz,"
                " projected_at timestamptz)"
            )
        runner = ConsumerRunner(
            pool,
            bootstrap,
            name=CONSUMER_NAME,
            service="reader",
            topics=[topic],
            registry=tally.registry,
            batch_handler=tally.project_and_time if timed else tally.project_deliveries,
            batch_size=500 if timed else 100,
        )
        await runner.run(stop)
    await pool.close()


def spawn(
    kind: str, dsn: str, bootstrap: str, topic: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "tests.support.processes", kind, dsn, bootstrap] + ([topic] if topic else [])
    return subprocess.Popen(args, env={**os.environ, **(env or {})})


if __name__ == "__main__":
    configure_logging(os.environ.get("CREDO_LOG_LEVEL", "warning"))
    uvloop.run(_run(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
