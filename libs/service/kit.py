"""The service skeleton: a Credo service is its domain, projections, reactions and routes.

``create_app(spec)`` wires everything else into one FastAPI lifespan: settings, JSON logs
with correlation ids, problem+json errors, auth, health, metrics and ``/info``; the
database (migrated at start), the event store with the service's own projection, the
outbox relay, the consumers of other services' topics, and the scheduled sweeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import asyncpg
import structlog
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.events.clock import BusinessClock, clock_from_setting
from libs.events.consumer import BatchHandler, ConsumerRunner, Handler
from libs.events.contracts import EventRegistry
from libs.events.database import (
    READ_MODEL_SCHEMA,
    Migration,
    create_pool,
    event_store_migrations,
    migrate,
    read_model_tracking,
)
from libs.events.kafka import ensure_topics
from libs.events.outbox import Relay, republish_history
from libs.events.store import EventStore, InlineProjection
from libs.events.sweeps import Sweep, SweepScheduler
from libs.service import idempotency
from libs.service.auth import Authenticator, Principal, require
from libs.service.errors import install_problem_handlers
from libs.service.guards import RefuseNul
from libs.service.hot import HotRoute, HotRoutes
from libs.service.logging import CorrelationMiddleware, configure_logging
from libs.service.openapi import truthful
from libs.service.settings import ROLES, ServiceSettings
from libs.service.views import View

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ConsumerSpec:
    """A read model or reaction fed by other services' topics."""

    name: str
    topics: Sequence[str]
    handler: Handler | None = None
    batch_handler: BatchHandler | None = None
    # For reactions that work with the service's collaborators: built once they exist.
    make_batch_handler: Callable[[Kit], BatchHandler] | None = None
    batch_size: int = 500  # messages per transaction at most
    revisions_supersede: bool = False  # streams are documents, versions whole revisions (the ERP's topics)
    read_in_step: bool = False  # topics not ordered with one another, read in step by send time


Job = Callable[[asyncio.Event], Coroutine[Any, Any, None]]  # a loop run until the event is set


@dataclass(frozen=True)
class Serving:
    """A reactor the HTTP API needs as well (a listener its routes read from): run in every role."""

    run: Job


def jobs_of(role: str, background: Sequence[Job], reactors: Sequence[Job | Serving]) -> list[Job]:
    """What a process of ``role`` runs: the API role only the reactors its routes need; the worker
    role (and ``all``) the relay, consumers and sweeps (``background``) and every reactor."""
    serving = [r.run for r in reactors if isinstance(r, Serving)]
    if role == "api":
        return serving
    return [*background, *(r.run if isinstance(r, Serving) else r for r in reactors)]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    registry: EventRegistry  # the service's own events and those it consumes
    default_port: int
    read_model: Sequence[Migration] = ()
    own_projection: InlineProjection | None = None
    consumers: Sequence[ConsumerSpec] = ()
    routers: Sequence[APIRouter] = ()
    sweeps: Callable[[Kit], Sequence[Sweep]] | None = None
    # The service's own collaborators (its settings, policy, folded streams, desks), built once
    # the store exists; routes, reactions and sweeps reach them as ``kit.parts``.
    assemble: Callable[[Kit], Any] | None = None
    hot_routes: Sequence[HotRoute] = ()  # answered before FastAPI's routing; see libs.service.hot
    # Reactors on the service's own events that perform side effects (sending notices): each a
    # loop run beside the relay and the consumers until the service stops.
    reactors: Callable[[Kit], Sequence[Job | Serving]] | None = None
    description: str = ""


@dataclass
class Kit:
    """The running parts of a service; routes reach it as ``request.app.state.kit``."""

    spec: ServiceSpec
    settings: ServiceSettings
    clock: BusinessClock
    auth: Authenticator
    pool: asyncpg.Pool = field(init=False)
    store: EventStore = field(init=False)
    relay: Relay = field(init=False)
    consumers: list[ConsumerRunner] = field(default_factory=list)
    parts: Any = None
    sweeper: SweepScheduler | None = None
    started_at: float = field(default_factory=time.time)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        settings, spec = self.settings, self.spec
        self.pool = await create_pool(settings.database_url, max_size=20)
        async with self.pool.acquire() as conn:
            await migrate(conn, "public", [*event_store_migrations(), idempotency.migration()])
            await migrate(conn, READ_MODEL_SCHEMA, [read_model_tracking(), *spec.read_model])
        consumed = sorted({settings.topic_name(t) for c in spec.consumers for t in c.topics})
        if self.works:  # the API role writes to its outbox and never to the broker
            await ensure_topics(
                settings.kafka_bootstrap_servers,
                [settings.topic, settings.dead_letter_topic, *consumed],
                partitions=settings.partitions,
            )
        if settings.republish_on_start and self.works:
            queued = await republish_history(self.pool)
            log.warning(
                "service.republishing_history",
                events=queued,
                reason="the broker may have lost its log (CREDO_REPUBLISH_ON_START)",
            )
        self.store = EventStore(
            self.pool,
            source=spec.name,
            topic=settings.topic,
            registry=spec.registry,
            clock=self.clock,
            projection=spec.own_projection,
        )
        if spec.assemble is not None:
            self.parts = spec.assemble(self)
        self.relay = Relay(self.pool, settings.database_url, settings.kafka_bootstrap_servers, source=spec.name)
        self.consumers = [
            ConsumerRunner(
                self.pool,
                settings.kafka_bootstrap_servers,
                name=f"{spec.name}.{c.name}",
                service=spec.name,
                dead_letters_to=settings.dead_letter_topic,
                topics=[settings.topic_name(t) for t in c.topics],
                registry=spec.registry,
                handler=c.handler,
                batch_handler=c.make_batch_handler(self) if c.make_batch_handler else c.batch_handler,
                group=settings.consumer_group,
                batch_size=c.batch_size,
                revisions_supersede=c.revisions_supersede,
                read_in_step=c.read_in_step,
            )
            for c in spec.consumers
            if self.works
        ]
        if spec.sweeps is not None and self.works:
            self.sweeper = SweepScheduler(self.pool, self.clock, spec.sweeps(self))
        background: list[Job] = [self.relay.run, *(c.run for c in self.consumers)]
        if self.sweeper is not None:
            background.append(self.sweeper.run)
        # Built in every role: a reactor may lend the API its parts (collections' letters).
        reactors = spec.reactors(self) if spec.reactors is not None else ()
        self._tasks = [asyncio.create_task(job(self._stop)) for job in jobs_of(settings.role, background, reactors)]
        log.info(
            "service.started",
            service=spec.name,
            role=settings.role,
            version=settings.version,
            port=settings.port,
            topic=settings.topic,
            consumes=consumed if self.works else [],
        )

    def catching_up(self) -> bool:
        """Whether one of this process's consumers has more than a batch waiting on the broker."""
        return any(c.catching_up for c in self.consumers)

    @property
    def works(self) -> bool:
        """Whether this process runs the relay, consumers, sweeps and reactors (roles worker and all)."""
        return self.settings.role != "api"

    def relay_running(self) -> bool:
        return self.works and bool(self._tasks) and not self._tasks[0].done()  # the relay is started first

    async def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 15)
        for task in self._tasks:
            task.cancel()
        await self.pool.close()
        log.info("service.stopped", service=self.spec.name)


# -- health, info ----------------------------------------------------------------------------

operations = APIRouter(tags=["operations"])


async def kit_of(request: Request) -> Kit:  # async: a plain def would hop to a worker thread
    kit: Kit = request.app.state.kit
    return kit


KitDep = Annotated[Kit, Depends(kit_of)]


class Liveness(View):
    status: Literal["alive"]


class Readiness(View):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]  # each part: "ok", or what is wrong with it


class ConsumerInfo(View):
    name: str
    topics: list[str]
    ready: bool
    positions: dict[str, int]  # "<topic>/<partition>": the next offset to read


class Info(View):
    service: str
    version: str
    description: str
    business_date: str
    publishes: str
    dead_letter_topic: str
    event_store: dict[str, int]
    relay: dict[str, Any]
    consumers: list[ConsumerInfo]
    uptime_seconds: float


@operations.get("/health/live", response_model=Liveness, summary="The process is up")
async def live() -> dict[str, str]:
    """Liveness: the process is up. Open, for the orchestrator."""
    return {"status": "alive"}


@operations.get(
    "/health/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a part is not ready: the checks say which"}},
    summary="Database and broker reachable, consumers assigned, relay running",
)
async def ready(kit: KitDep) -> JSONResponse:
    """Readiness: the database and the broker answer, every consumer has its partitions and the relay
    runs (in the API role, the database alone); 503 with what is not ready otherwise. Open, for the
    orchestrator."""
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(kit.pool.fetchval("SELECT 1"), 2)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if kit.works:  # the API role needs its database alone
        checks["broker"] = "ok" if await _reachable(kit.settings.kafka_bootstrap_servers) else "unreachable"
        checks["relay"] = "ok" if kit.relay_running() else "stopped"
    for runner in kit.consumers:
        checks[f"consumer {runner.name}"] = "ok" if runner.ready.is_set() else "not assigned"
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if healthy else "not ready", "checks": checks}, status_code=200 if healthy else 503
    )


async def _reachable(bootstrap_servers: str) -> bool:
    for server in bootstrap_servers.split(","):
        parts = urlsplit(f"//{server.strip()}")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port or 9092), 1)
        except (OSError, TimeoutError):
            continue
        writer.close()
        return True
    return False


@operations.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus' text format; open, like the health routes."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@operations.get("/info", response_model=Info, summary="Version, topics, consumer positions and relay of this service")
async def info(kit: KitDep, _: Annotated[Principal, Depends(require(*ROLES))]) -> dict[str, Any]:
    """What this service is and where it stands: its version and business date, the topic it publishes, its
    event store and outbox backlog, and each consumer's position in each partition."""
    positions = await kit.pool.fetch(
        "SELECT consumer, topic, partition, next_offset FROM consumer_positions ORDER BY 1, 2, 3"
    )
    stored = await kit.pool.fetchrow("SELECT count(*) AS events, coalesce(max(position), 0) AS last FROM events")
    backlog = await kit.pool.fetchval("SELECT count(*) FROM outbox")
    return {
        "service": kit.spec.name,
        "version": kit.settings.version,
        "description": kit.spec.description,
        "business_date": kit.clock.today().isoformat(),
        "publishes": kit.settings.topic,
        "dead_letter_topic": kit.settings.dead_letter_topic,
        "event_store": {"events": stored["events"] if stored else 0, "outbox_backlog": backlog},
        "relay": {"leader": kit.relay.is_leader, "published_since_start": kit.relay.published},
        "consumers": [
            {
                "name": runner.name,
                "topics": runner.topics,
                "ready": runner.ready.is_set(),
                "positions": {
                    f"{p['topic']}/{p['partition']}": p["next_offset"]
                    for p in positions
                    if p["consumer"] == runner.name
                },
            }
            for runner in kit.consumers
        ],
        "uptime_seconds": round(time.time() - kit.started_at, 1),
    }


# Labelled by the route's template, never the raw path, so the number of series stays bounded.
HTTP_REQUESTS = Counter("credo_http_requests_total", "HTTP requests answered", ["handler", "method", "status"])
HTTP_LATENCY = Histogram(
    "credo_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["handler", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UNROUTED = "none"  # the handler label of requests that matched no route


class RequestLog:
    """One log line per request, with its route, status, duration and correlation id, and the
    request counted in the HTTP metrics (``/metrics`` itself is not)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None)
            method = scope["method"]
            if route != "/metrics":
                handler = route or UNROUTED
                HTTP_REQUESTS.labels(handler, method, f"{status // 100}xx").inc()
                HTTP_LATENCY.labels(handler, method).observe(elapsed)
            log.info(
                "http.request",
                method=method,
                path=scope["path"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )


def create_app(spec: ServiceSpec, settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or load_settings(spec)
    kit = Kit(spec, settings, clock_from_setting(settings.business_date), Authenticator(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await kit.start()
        try:
            yield
        finally:
            await kit.stop()

    about: dict[str, Any] = {
        "title": f"Credo {spec.name}",
        "version": settings.version,
        "description": spec.description,
        "lifespan": lifespan,
    }
    if settings.api_docs:  # Swagger UI with its assets served from here: nothing from a CDN
        app = FastAPIOffline(docs_url="/docs", redoc_url=None, static_url="/docs/assets", **about)
    else:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, **about)
    app.state.kit = kit
    app.openapi = truthful(app.openapi)  # type: ignore[method-assign]
    install_problem_handlers(app)
    app.include_router(operations)
    for router in spec.routers:
        app.include_router(router)
    if spec.hot_routes:  # inside the request log, so they are logged and counted like any route
        app.add_middleware(HotRoutes, routes=spec.hot_routes)
    app.add_middleware(RefuseNul)
    app.add_middleware(RequestLog)
    app.add_middleware(CorrelationMiddleware)
    return app


GC_YOUNGEST = 50_000  # allocations between collections of the youngest generation (default 700)


def load_settings(spec: ServiceSpec) -> ServiceSettings:
    defaults: dict[str, Any] = {"service": spec.name}
    if "CREDO_PORT" not in os.environ:
        defaults["port"] = spec.default_port
    return ServiceSettings(**defaults)


def run(spec: ServiceSpec) -> None:
    """The entry point of ``python -m services.<name>``."""
    settings = load_settings(spec)
    configure_logging(settings.log_level, settings.log_format)
    # A service keeps much long-lived state (the folded accounts it remembers, policies, pools) and
    # a whole-book read makes tens of thousands of short-lived rows: at the default thresholds the
    # collector walks all of it every few such reads (a third of an aging report's time, profiled).
    gc.set_threshold(GC_YOUNGEST, 20, 20)
    uvicorn.run(
        create_app(spec, settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
