"""`make dev`: the whole of Credo on one machine.

Takes PostgreSQL and Kafka from ``DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS`` when given;
otherwise starts the embedded PostgreSQL (data in .dev/postgres, kept across restarts) and
the Tansu broker (memory only). Creates each service's database and topics, starts every
service as its own process under one supervisor (restarting any that dies), prints where
each listens and a ready-to-use token, and stops everything cleanly on Ctrl-C.

The embedded broker forgets its log when it stops, so on each start the services re-publish
their history and the consumers, noticing the new log, re-read it and skip what they have.

Settings: ``CREDO_DEV_DIR`` (default .dev), ``CREDO_DEV_BASE_PORT`` (default 8100; the
services listen on the next five ports), ``CREDO_DEV_DEMO`` (``customers,invoices``, e.g.
``50,2000``, or ``1`` for that size): load the ERP simulator's book once everything is ready.
Loading is idempotent: the same documents sent again are applied once.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx

from libs.infra.embedded import end_with_parent
from libs.infra.provision import kafka_broker, postgres_server
from libs.service.auth import mint_token
from tools import erp_simulator

REPO = Path(__file__).resolve().parents[1]
SERVICES = ("profiles", "receivables", "scoring", "collections", "alerts")
# Who the demo's statements of account come from, unless CREDO_COMPANY_* say otherwise.
DEMO_COMPANY = {
    "CREDO_COMPANY_NAME": "福州闽江供应链有限公司",
    "CREDO_COMPANY_ADDRESS": "福建省福州市鼓楼区五四路 88 号 (88 Wusi Road, Gulou, Fuzhou)",
    "CREDO_COMPANY_PHONE": "+86 591 8888 0000",
    "CREDO_COMPANY_BANK_NAME": "中国工商银行福州五四支行 (ICBC Fuzhou Wusi Branch)",
    "CREDO_COMPANY_BANK_ACCOUNT": "1402 0211 0900 1234 567",
    "CREDO_COMPANY_TAX_ID": "91350100M000100Y43",
}
# The demo's FX rates to CNY, from the first day of its book.
DEMO_RATES = {"USD": "7.1200", "EUR": "7.7800"}


def dev_dir() -> Path:
    return Path(os.environ.get("CREDO_DEV_DIR", REPO / ".dev"))


def load_dev_secrets(directory: Path | None = None) -> dict[str, str] | None:
    path = (directory or dev_dir()) / "secrets.json"
    if not path.exists():
        return None
    loaded: dict[str, str] = json.loads(path.read_text())
    return loaded


def ensure_dev_secrets(directory: Path) -> dict[str, str]:
    """The development signing secret and ERP API key, made once and kept."""
    existing = load_dev_secrets(directory)
    if existing:
        return existing
    made = {"jwt_secret": secrets.token_urlsafe(48), "erp_api_key": secrets.token_urlsafe(32)}
    path = directory / "secrets.json"
    path.write_text(json.dumps(made, indent=2))
    path.chmod(0o600)
    return made


def database_url(server_url: str, name: str) -> str:
    head, _, _ = server_url.rpartition("/")
    query = server_url.partition("?")[2]
    return f"{head}/{name}" + (f"?{query}" if query else "")


async def create_databases(server_url: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for service in SERVICES:
            if f"credo_{service}" not in existing:
                await conn.execute(f"CREATE DATABASE credo_{service}")
    finally:
        await conn.close()


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        if self._log is None:
            self._log = self.log_path.open("ab")  # held for the process's life
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"services.{self.name}",
            env=self.env,
            cwd=REPO,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops them in order
            preexec_fn=end_with_parent,
        )

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


class Supervisor:
    """Keeps every service process running until asked to stop."""

    def __init__(self, services: list[ServiceProcess]) -> None:
        self.services = services
        self.stopping = False

    async def start(self) -> None:
        for service in self.services:
            await service.start()

    async def watch(self) -> None:
        while not self.stopping:
            for service in self.services:
                process = service.process
                if process is not None and process.returncode is not None and not self.stopping:
                    service.restarts += 1
                    delay = min(30, 2 ** min(service.restarts, 5))
                    say(
                        f"{service.name} exited with {process.returncode}; restarting in {delay} s "
                        f"(see {service.log_path})"
                    )
                    await asyncio.sleep(delay)
                    if not self.stopping:
                        await service.start()
            await asyncio.sleep(0.5)

    async def wait_ready(self, within: float) -> None:
        deadline = time.monotonic() + within
        waiting = {s.name for s in self.services}
        async with httpx.AsyncClient(timeout=2) as client:
            while waiting:
                for service in self.services:
                    if service.name not in waiting:
                        continue
                    try:
                        if (await client.get(f"{service.url}/health/ready")).status_code == 200:
                            waiting.discard(service.name)
                    except httpx.HTTPError:
                        pass
                if waiting and time.monotonic() > deadline:
                    raise TimeoutError(f"not ready after {within:.0f} s: {', '.join(sorted(waiting))}")
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        self.stopping = True
        await asyncio.gather(*(s.stop() for s in self.services))


def say(line: str) -> None:
    print(f"credo dev | {line}", flush=True)


async def run(stop: asyncio.Event) -> None:
    started = time.monotonic()
    directory = dev_dir()
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    base_port = int(os.environ.get("CREDO_DEV_BASE_PORT", "8100"))
    with ExitStack() as stack:
        # Docker users run docker-compose.yml instead; here the data must outlive the process.
        pg = stack.enter_context(postgres_server(directory, durable=True, allow_docker=False))
        broker = stack.enter_context(kafka_broker(directory, allow_docker=False))
        say(f"PostgreSQL {pg.url} ({pg.path}); Kafka {broker.bootstrap_servers} ({broker.path})")
        dev_secrets = ensure_dev_secrets(directory)
        await create_databases(pg.url)
        common: dict[str, Any] = {
            **os.environ,
            "CREDO_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "CREDO_JWT_SECRET": dev_secrets["jwt_secret"],
            "CREDO_API_KEYS": f"erp:{dev_secrets['erp_api_key']}:erp",
            **{k: v for k, v in DEMO_COMPANY.items() if k not in os.environ},
            # A memory-only broker starts empty: every service re-publishes its history.
            "CREDO_REPUBLISH_ON_START": "true" if broker.path == "embedded" else "false",
            "CREDO_API_DOCS": "true",
        }
        services = [
            ServiceProcess(
                name,
                base_port + i + 1,
                {
                    **common,
                    "CREDO_DATABASE_URL": database_url(pg.url, f"credo_{name}"),
                    "CREDO_PORT": str(base_port + i + 1),
                },
                directory / "logs" / f"{name}.log",
            )
            for i, name in enumerate(SERVICES)
        ]
        supervisor = Supervisor(services)
        await supervisor.start()
        watcher = asyncio.create_task(supervisor.watch())
        try:
            await supervisor.wait_ready(60)
            say(f"ready in {time.monotonic() - started:.1f} s")
            for service in services:
                say(f"{service.name:<12} {service.url}   docs {service.url}/docs   log {service.log_path}")
            say(f"token (admin, 8 h): {mint_token(dev_secrets['jwt_secret'], 'developer', ['admin'])}")
            say(f"ERP API key (X-API-Key): {dev_secrets['erp_api_key']}")
            say("Ctrl-C stops everything.")
            demo = demo_size(os.environ.get("CREDO_DEV_DEMO", ""))
            if demo is not None:
                receivables_db = database_url(pg.url, "credo_receivables")
                finance = mint_token(dev_secrets["jwt_secret"], "demo-finance", ["finance_director"], hours=1)
                await load_demo(broker.bootstrap_servers, receivables_db, *demo, services[1].url, finance)
            await stop.wait()
        finally:
            say("stopping")
            await supervisor.stop()
            watcher.cancel()
    say("stopped")


def demo_size(setting: str) -> tuple[int, int] | None:
    setting = setting.strip()
    if setting in ("", "0", "false", "no"):
        return None
    if setting in ("1", "true", "yes"):
        return 50, 2000
    try:
        customers, invoices = (int(part) for part in setting.split(","))
    except ValueError:
        raise SystemExit(f"CREDO_DEV_DEMO={setting!r}: give customers,invoices such as 50,2000, or 1") from None
    return customers, invoices


async def load_demo(
    bootstrap_servers: str, receivables_db: str, customers: int, invoices: int, receivables_url: str, finance_token: str
) -> None:
    """The ERP simulator's book for the last year: customers to profiles, then their documents, and
    the FX rates its invoices in other currencies need."""
    start = date.today() - timedelta(days=365)
    book = erp_simulator.generate(7, customers, invoices, start=start)
    async with httpx.AsyncClient(base_url=receivables_url, timeout=10) as http:
        for currency, rate in DEMO_RATES.items():
            body = {"currency": currency, "rate": rate, "rate_date": start.isoformat()}
            answer = await http.post(
                "/fx-rates",
                json=body,
                headers={"Authorization": f"Bearer {finance_token}", "Idempotency-Key": f"demo-rate-{currency}"},
            )
            if answer.status_code not in (200, 201, 202):
                raise RuntimeError(f"the demo's {currency} rate was refused: {answer.text}")
    say(f"demo: FX rates to CNY recorded from {start}: {', '.join(f'{c} {r}' for c, r in DEMO_RATES.items())}")
    say(f"demo: sending {customers:,} customers to erp.customers")
    await erp_simulator.publish(bootstrap_servers, erp_simulator.customer_records(book, False))
    conn = await asyncpg.connect(receivables_db)
    try:
        erp_ids = [c.erp_id for c in book.customers]
        query = "SELECT count(*) FROM read_model.customers WHERE erp_id = ANY($1::text[])"
        deadline = time.monotonic() + 120
        while await conn.fetchval(query, erp_ids) < customers:
            if time.monotonic() > deadline:
                raise TimeoutError("the demo's customers did not reach receivables within 120 s; see the logs")
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
    say(f"demo: sending {len(book.documents):,} ERP documents {book.counts()}")
    await erp_simulator.publish(bootstrap_servers, erp_simulator.document_records(book))
    say("demo: sent; receivables applies them in a few seconds (GET /aging shows the book)")


def main() -> None:
    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(stop)

    asyncio.run(go())


if __name__ == "__main__":
    main()
