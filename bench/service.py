"""A service under benchmark: its own process, as in production, on embedded (or given) servers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from libs.events.kafka import ensure_topics
from libs.infra.embedded import free_port
from libs.infra.provision import kafka_broker, postgres_server
from libs.service.auth import mint_token

SECRET = "benchmark-signing-secret-of-enough-length"


@dataclass(frozen=True)
class Running:
    url: str  # the first replica's
    dsn: str
    bootstrap_servers: str
    pids: list[int]
    urls: tuple[str, ...] = ()  # every replica's

    def token(self, *roles: str, subject: str = "bench") -> str:
        return mint_token(SECRET, subject, list(roles))


@contextlib.asynccontextmanager
async def running(name: str, topics: Sequence[str], replicas: int = 1, **settings: str) -> AsyncIterator[Running]:
    """``services.<name>`` with a database of its own, once it answers ready; replicas share the
    partitions of what they consume through a consumer group."""
    with (
        tempfile.TemporaryDirectory(prefix="credo-bench-") as tmp,
        postgres_server(Path(tmp)) as pg,
        kafka_broker(Path(tmp)) as broker,
    ):
        conn = await asyncpg.connect(pg.url)
        await conn.execute(f"CREATE DATABASE bench_{name}")
        await conn.close()
        dsn = pg.url.rsplit("/", 1)[0] + f"/bench_{name}"
        await ensure_topics(broker.bootstrap_servers, list(topics))
        ports = [free_port() for _ in range(replicas)]
        env = {
            **os.environ,
            "CREDO_DATABASE_URL": dsn,
            "CREDO_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "CREDO_JWT_SECRET": SECRET,
            "CREDO_LOG_LEVEL": "warning",
            "CREDO_CONSUMER_GROUP": "true" if replicas > 1 else "false",
            **settings,
        }
        processes = [
            subprocess.Popen([sys.executable, "-m", f"services.{name}"], env={**env, "CREDO_PORT": str(port)})  # noqa: ASYNC220
            for port in ports
        ]
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            async with httpx.AsyncClient() as probe:
                for url, process in zip(urls, processes, strict=True):
                    while True:
                        try:
                            if (await probe.get(f"{url}/health/ready")).status_code == 200:
                                break
                        except httpx.HTTPError:
                            pass
                        if process.poll() is not None:
                            raise RuntimeError(f"services.{name} exited with {process.returncode}")
                        await asyncio.sleep(0.2)
            print(f"{name} at {', '.join(urls)}; PostgreSQL {pg.path}, broker {broker.path}\n", flush=True)
            yield Running(urls[0], dsn, broker.bootstrap_servers, [p.pid for p in processes], tuple(urls))
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(30)
