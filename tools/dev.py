"""`make dev`: the whole of Credo on one machine.

Takes PostgreSQL and Kafka from ``DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS`` when given;
otherwise starts the embedded PostgreSQL (data in .dev/postgres, kept across restarts) and
the Tansu broker (memory only). Creates each service's database and topics, starts every
service as its own process under one supervisor (restarting any that dies), prints where
each listens and a ready-to-use token, and stops everything cleanly on Ctrl-C. Collections
sends its mails to a local SMTP server that keeps them in .dev/mail and lists them over HTTP.

The embedded broker forgets its log when it stops, so on each start the services re-publish
their history and the consumers, noticing the new log, re-read it and skip what they have.

Settings: ``CREDO_DEV_DIR`` (default .dev), ``CREDO_DEV_BASE_PORT`` (default 8100, where the
console listens; the services listen on the next five ports, the mailbox's SMTP server and its
listing on the two after, the development OpenID provider on the one after those),
``CREDO_DEV_DEMO`` (``customers,invoices``, e.g. ``50,2000``, or ``1`` for that size): load the ERP
simulator's book once everything is ready. Loading is idempotent: the same documents sent again are applied once.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import uvicorn
from aiohttp import web

from libs.infra.embedded import EmbeddedPostgres, TansuBroker, end_with_parent, private_log
from libs.infra.mailbox import listing, smtp_server
from libs.infra.provision import BrokerHandle, PostgresHandle, kafka_broker, postgres_server
from libs.service.auth import mint_token
from tools import erp_simulator
from tools.dev_identity import DEV_USERS, identity_provider

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
CONSOLE_CLIENT = "credo-console"
DEV_SIGN_INS = ", ".join(f"{u.subject} ({', '.join(u.roles)})" for u in DEV_USERS)
# The demo's FX rates to CNY, from the first day of its book.
DEMO_RATES = {"USD": "7.1200", "EUR": "7.7800"}


def free_base_port() -> int:
    # Below the ephemeral range, so that the stack's own outgoing connections cannot take the
    # ports between its stop and its restart.
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(50):
        base = random.randint(ephemeral_low // 2, ephemeral_low - 10)
        try:
            for port in range(base, base + 9):  # the console, five services, SMTP, the mailbox, sign-in
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free ports")


def dev_dir() -> Path:
    return Path(os.environ.get("CREDO_DEV_DIR", REPO / ".dev"))


def load_dev_secrets(directory: Path | None = None) -> dict[str, str] | None:
    path = (directory or dev_dir()) / "secrets.json"
    if not path.exists():
        return None
    loaded: dict[str, str] = json.loads(path.read_text())
    return loaded


def ensure_dev_secrets(directory: Path) -> dict[str, str]:
    """The development signing secret, ERP API key and PostgreSQL password, made once and kept."""
    kept = load_dev_secrets(directory) or {}
    made = {
        "jwt_secret": secrets.token_urlsafe(48),
        "erp_api_key": secrets.token_urlsafe(32),
        "postgres_password": secrets.token_urlsafe(24),
        "console_client_secret": secrets.token_urlsafe(32),
    }
    if kept.keys() >= made.keys():
        return kept
    merged = made | kept
    path = directory / "secrets.json"
    path.touch(0o600)
    path.chmod(0o600)
    path.write_text(json.dumps(merged, indent=2))
    return merged


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
    started_at: float = 0.0
    restarting: bool = False  # stopped to be started again at once, not a crash
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        if self._log is None:
            self._log = private_log(self.log_path)  # held for the process's life
        self.started_at = time.monotonic()
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


HEALTHY_RUN = 60.0  # seconds a process must run before its back-off starts again from 1 s
PROGRESS_EVERY = 10.0  # seconds between two lines about who is still not ready


def backoff(restarts: int) -> float:
    """Seconds before the n-th restart in a row: 1, 2, 4, ... up to 30."""
    return float(min(30, 2 ** max(0, restarts - 1)))


class Supervisor:
    """Keeps every service process, and the embedded PostgreSQL and broker, running until asked
    to stop. Each part is watched on its own, so one waiting out its back-off delays no other."""

    def __init__(self, services: list[ServiceProcess], pg: PostgresHandle, broker: BrokerHandle) -> None:
        self.services = services
        self.pg, self.broker = pg, broker
        self.stopping = False
        self.broker_restarted = asyncio.Event()  # set when the broker came back empty

    async def start(self) -> None:
        for service in self.services:
            await service.start()

    async def watch(self) -> None:
        watchers = [self._watch_service(s) for s in self.services]
        if self.pg.embedded is not None:
            watchers.append(self._watch_postgres(self.pg.embedded))
        if self.broker.embedded is not None:
            watchers.append(self._watch_broker(self.broker.embedded))
        await asyncio.gather(*watchers)

    async def _watch_service(self, service: ServiceProcess) -> None:
        while not self.stopping:
            process = service.process
            if process is None:
                await asyncio.sleep(0.5)
                continue
            code = await process.wait()
            if self.stopping:
                return
            if service.restarting or service.process is not process:
                await asyncio.sleep(0.2)  # restarted on purpose: watch the new process
                continue
            ran = time.monotonic() - service.started_at
            service.restarts = 1 if ran >= HEALTHY_RUN else service.restarts + 1
            delay = backoff(service.restarts)
            say(f"{service.name} exited with {code} after {ran:.0f} s; restarting in {delay:.0f} s "
                f"(see {service.log_path})")  # fmt: skip
            await asyncio.sleep(delay)
            if not self.stopping:
                await service.start()

    async def _watch_postgres(self, server: EmbeddedPostgres) -> None:
        restarts, up_since = 0, time.monotonic()
        while not self.stopping:
            await asyncio.sleep(1)
            if self.stopping or server.running():
                continue
            restarts = 1 if time.monotonic() - up_since >= HEALTHY_RUN else restarts + 1
            say("PostgreSQL stopped answering; restarting it (the services reconnect by themselves)")
            try:
                await asyncio.to_thread(server.start)
                up_since = time.monotonic()
                say(f"PostgreSQL is back on {server.port}")
            except (RuntimeError, OSError, subprocess.CalledProcessError) as failed:
                delay = backoff(restarts)
                say(f"PostgreSQL did not start ({str(failed)[:200]}); trying again in {delay:.0f} s")
                await asyncio.sleep(delay)

    async def _watch_broker(self, broker: TansuBroker) -> None:
        restarts, up_since = 0, time.monotonic()
        while not self.stopping:
            await asyncio.sleep(1)
            process = broker.process
            if self.stopping or process is None or process.poll() is None:
                continue
            restarts = 1 if time.monotonic() - up_since >= HEALTHY_RUN else restarts + 1
            say(f"the broker exited with {process.returncode}; restarting it empty: its log was in memory")
            try:
                broker.process = None
                await asyncio.to_thread(broker.start)
                up_since = time.monotonic()
            except (RuntimeError, OSError, TimeoutError) as failed:
                delay = backoff(restarts)
                say(f"the broker did not start ({failed}); trying again in {delay:.0f} s")
                await asyncio.sleep(delay)
                continue
            # Every service publishes its whole history again on start; the ERP's documents
            # that no consumer had read yet are gone with the old log and must be sent again.
            say("broker back; restarting the services so that they publish their history again")
            for service in self.services:
                service.restarting = True
                await service.stop()
                await service.start()
                service.restarting = False
            say(ERP_RESEND)
            self.broker_restarted.set()

    async def wait_ready(self) -> None:
        """Until every service answers ready, a line every few seconds saying who and why not."""
        waiting = {s.name: "not answering yet" for s in self.services}
        next_report = time.monotonic() + PROGRESS_EVERY
        async with httpx.AsyncClient(timeout=2) as client:
            while waiting and not self.stopping:
                for service in self.services:
                    if service.name not in waiting:
                        continue
                    try:
                        answer = await client.get(f"{service.url}/health/ready")
                    except httpx.HTTPError:
                        continue
                    if answer.status_code == 200:
                        del waiting[service.name]
                    else:
                        checks = answer.json().get("checks", {})
                        waiting[service.name] = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
                if waiting and time.monotonic() >= next_report:
                    next_report = time.monotonic() + PROGRESS_EVERY
                    say("waiting for " + "; ".join(f"{name} ({why})" for name, why in sorted(waiting.items())))
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        self.stopping = True
        await asyncio.gather(*(s.stop() for s in self.services))


ERP_RESEND = (
    "the embedded broker keeps its log in memory: ERP documents sent before it restarted and not yet "
    "applied are lost. Send them again (the ledger applies each revision once): make dev-resend, or "
    "your ERP's re-send"
)


def say(line: str) -> None:
    print(f"credo dev | {line}", flush=True)


async def run(stop: asyncio.Event) -> None:
    started = time.monotonic()
    directory = dev_dir()
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    (directory / "logs").chmod(0o700)
    base_port = int(os.environ.get("CREDO_DEV_BASE_PORT", "8100"))
    with ExitStack() as stack:
        # Docker users run docker-compose.yml instead; here the data must outlive the process.
        dev_secrets = ensure_dev_secrets(directory)
        password = dev_secrets["postgres_password"]
        pg = stack.enter_context(postgres_server(directory, durable=True, allow_docker=False, password=password))
        directory.chmod(0o711)  # the server's own user must pass through; no one else may list it
        broker = stack.enter_context(kafka_broker(directory, allow_docker=False))
        shown = pg.url.replace(password, "***")
        say(f"PostgreSQL {shown} ({pg.path}); Kafka {broker.bootstrap_servers} ({broker.path})")
        if broker.path == "embedded":
            say("the embedded broker keeps its log in memory only: if it restarts, ERP documents not yet "
                "applied must be sent again (make dev-resend)")  # fmt: skip
        await create_databases(pg.url)
        mail_port, mailbox_port = base_port + len(SERVICES) + 1, base_port + len(SERVICES) + 2
        mailbox = await open_mailbox(stack, directory / "mail", mail_port, mailbox_port)
        mailbox_url = f"http://127.0.0.1:{mailbox_port}/"
        common: dict[str, Any] = {
            **os.environ,
            "CREDO_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "CREDO_JWT_SECRET": dev_secrets["jwt_secret"],
            "CREDO_API_KEYS": f"erp:{dev_secrets['erp_api_key']}:erp",
            **{k: v for k, v in DEMO_COMPANY.items() if k not in os.environ},
            # A memory-only broker starts empty: every service re-publishes its history.
            "CREDO_REPUBLISH_ON_START": "true" if broker.path == "embedded" else "false",
            "CREDO_API_DOCS": "true",
            "CREDO_COLLECTIONS_SMTP_HOST": "127.0.0.1",
            "CREDO_COLLECTIONS_SMTP_PORT": str(mail_port),
            "CREDO_ALERTS_SMTP_HOST": "127.0.0.1",
            "CREDO_ALERTS_SMTP_PORT": str(mail_port),
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
        console_url, issuer = f"http://127.0.0.1:{base_port}", f"http://127.0.0.1:{base_port + len(SERVICES) + 3}"
        identity = await serve_identity_provider(issuer, dev_secrets, console_url)
        console = ServiceProcess(
            "console",
            base_port,
            {
                **os.environ,
                "CREDO_CONSOLE_PORT": str(base_port),
                "CREDO_CONSOLE_PUBLIC_URL": console_url,
                "CREDO_CONSOLE_OIDC_ISSUER": issuer,
                "CREDO_CONSOLE_OIDC_CLIENT_ID": CONSOLE_CLIENT,
                "CREDO_CONSOLE_OIDC_CLIENT_SECRET": dev_secrets["console_client_secret"],
                **{f"CREDO_CONSOLE_{s.name.upper()}_URL": s.url for s in services},
            },
            directory / "logs" / "console.log",
        )
        supervisor = Supervisor([*services, console], pg, broker)
        await supervisor.start()
        watcher = asyncio.create_task(supervisor.watch())
        try:
            waiting = asyncio.create_task(supervisor.wait_ready())
            await asyncio.wait([waiting, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
            if not waiting.done():
                waiting.cancel()
                return
            say(f"ready in {time.monotonic() - started:.1f} s")
            say(f"{'console':<12} {console.url}/   sign in as one of: {DEV_SIGN_INS}   log {console.log_path}")
            for service in services:
                say(f"{service.name:<12} {service.url}   docs {service.url}/docs   log {service.log_path}")
            say(
                f"{'mailbox':<12} {mailbox_url}   the mails collections and alerts sent "
                f"(SMTP on {mail_port}, .eml in {directory / 'mail'})"
            )
            say(f"{'sign-in':<12} {issuer}/.well-known/openid-configuration   the development OpenID provider")
            say(f"token (admin, 8 h): {mint_token(dev_secrets['jwt_secret'], 'developer', ['admin'])}")
            say(f"ERP API key (X-API-Key): {dev_secrets['erp_api_key']}")
            say("Ctrl-C stops everything.")
            demo = demo_size(os.environ.get("CREDO_DEV_DEMO", ""))
            state: dict[str, Any] = {"bootstrap_servers": broker.bootstrap_servers, "demo": None}
            if demo is not None:
                receivables_db = database_url(pg.url, "credo_receivables")
                finance = mint_token(dev_secrets["jwt_secret"], "demo-finance", ["finance_director"], hours=1)
                start = demo_start(directory)
                state["demo"] = {"customers": demo[0], "invoices": demo[1], "start": start.isoformat()}
                await load_demo(broker.bootstrap_servers, receivables_db, *demo, start, services[1].url, finance)
            write_state(directory, state)
            resender = asyncio.create_task(resend_after_broker_restarts(supervisor, directory))
            await stop.wait()
            resender.cancel()
        finally:
            say("stopping")
            await supervisor.stop()
            watcher.cancel()
            await mailbox.cleanup()
            identity.should_exit = True
    say("stopped")


async def open_mailbox(stack: ExitStack, folder: Path, smtp_port: int, http_port: int) -> web.AppRunner:
    """The local SMTP server collections sends through, and its listing over HTTP (clean it up when done)."""
    controller = smtp_server(folder, smtp_port)  # it makes the folder, private
    stack.callback(controller.stop)
    runner = web.AppRunner(listing(folder), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", http_port).start()
    return runner


async def serve_identity_provider(issuer: str, dev_secrets: dict[str, str], console_url: str) -> uvicorn.Server:
    """The development OpenID provider, in this process, for as long as make dev runs."""
    clients = {CONSOLE_CLIENT: (dev_secrets["console_client_secret"], [f"{console_url}/signin/callback"])}
    app = identity_provider(issuer, dev_secrets["jwt_secret"], clients)
    port = int(issuer.rsplit(":", 1)[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
        await asyncio.sleep(0.02)
    return server


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


def demo_start(directory: Path) -> date:
    """The first day of the demo book: a year ago when first loaded, and the same day ever after,
    so that loading the demo again sends the very same documents and nothing changes."""
    path = directory / "demo_start"
    if path.exists():
        return date.fromisoformat(path.read_text().strip())
    start = date.today() - timedelta(days=365)
    path.write_text(start.isoformat())
    return start


def write_state(directory: Path, state: dict[str, Any]) -> None:
    """Where the running stack's broker is and which demo book it loaded, for ``make dev-resend``."""
    path = directory / "state.json"
    path.touch(0o600)
    path.write_text(json.dumps(state, indent=2))


async def resend(directory: Path) -> None:
    """Send the demo book to the ERP's topics again: what a broker that lost its log needs."""
    state = json.loads((directory / "state.json").read_text())
    demo = state.get("demo")
    if demo is None:
        say("make dev ran without DEMO: there is no demo book to send again; re-send your ERP's documents")
        return
    book = erp_simulator.generate(7, demo["customers"], demo["invoices"], start=date.fromisoformat(demo["start"]))
    say(f"re-sending {len(book.customers):,} customers and {len(book.documents):,} ERP documents")
    await erp_simulator.publish(state["bootstrap_servers"], erp_simulator.customer_records(book, False))
    await erp_simulator.publish(state["bootstrap_servers"], erp_simulator.document_records(book))
    say("re-sent; each revision is applied once, so nothing is counted twice")


async def resend_after_broker_restarts(supervisor: Supervisor, directory: Path) -> None:
    while True:
        await supervisor.broker_restarted.wait()
        supervisor.broker_restarted.clear()
        await supervisor.wait_ready()
        await resend(directory)


async def load_demo(
    bootstrap_servers: str,
    receivables_db: str,
    customers: int,
    invoices: int,
    start: date,
    receivables_url: str,
    finance_token: str,
) -> None:
    """The ERP simulator's book from ``start`` for a year: customers to profiles, then their
    documents, and the FX rates its invoices in other currencies need."""
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


def main(argv: list[str] | None = None) -> None:
    """``python -m tools.dev`` runs the stack; ``python -m tools.dev resend`` sends its demo book again."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["resend"]:
        asyncio.run(resend(dev_dir()))
        return
    if args:
        raise SystemExit("usage: python -m tools.dev [resend]")

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(stop)

    asyncio.run(go())


if __name__ == "__main__":
    main()
