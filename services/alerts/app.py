"""Composition root of alerts: the service's parts, built once, and how they are wired."""

from __future__ import annotations

from collections.abc import Sequence

from contracts import alerts as events
from contracts import collections as collections_events
from contracts import profiles as profiles_events
from contracts import receivables as receivables_events
from contracts import scoring as scoring_events
from libs.events.contracts import EventRegistry
from libs.service.directory import READ_MODEL as DIRECTORY_READ_MODEL
from libs.service.kit import ConsumerSpec, Job, Kit, ServiceSpec, Serving
from services.alerts import api, dead_letters, delivery, handlers, projections, reactions, sweeps
from services.alerts.live import Hub
from services.alerts.settings import AlertsSettings


def assemble(kit: Kit) -> handlers.Parts:
    return handlers.Parts(
        store=kit.store,
        alerts=handlers.alert_streams(kit.store),
        rules=handlers.rule_stream(kit.store),
        subscriptions=handlers.subscription_streams(kit.store),
        clock=kit.clock,
        settings=AlertsSettings(),
    )


def reactors(kit: Kit) -> Sequence[Job | Serving]:
    """The deliverer, the live stream's listener (which wakes it, and which the API's live stream
    reads in every role), and the dead-letter watch."""
    parts: handlers.Parts = kit.parts
    deliverer = delivery.Deliverer(parts, kit.pool, parts.settings)
    parts.hub = Hub(kit.settings.database_url, on_change=deliverer.wake)
    watch = dead_letters.Watch(parts, kit.settings)
    return [deliverer.run, Serving(parts.hub.run), watch.run]


spec = ServiceSpec(
    name="alerts",
    description="Early-warning alerts to people, dashboards and the ERP.",
    registry=EventRegistry.combine(
        events.registry,
        profiles_events.registry,
        receivables_events.registry,
        scoring_events.registry,
        collections_events.registry,
    ),
    default_port=8105,
    read_model=[*DIRECTORY_READ_MODEL, *projections.READ_MODEL],
    own_projection=projections.project,
    routers=[api.router],
    assemble=assemble,
    reactors=reactors,
    sweeps=sweeps.sweeps,
    consumers=[
        ConsumerSpec(
            "signals",
            ["profiles.events", "scoring.events", "collections.events", "receivables.events"],
            make_batch_handler=lambda kit: reactions.signals(kit.parts),
            batch_size=1000,
        )
    ],
)
