"""Composition root of collections: the service's parts, built once, and how they are wired."""

from __future__ import annotations

from collections.abc import Sequence

from contracts import collections as events
from contracts import profiles as profiles_events
from contracts import receivables as receivables_events
from contracts import scoring as scoring_events
from libs.events.contracts import EventRegistry
from libs.service.directory import READ_MODEL as DIRECTORY_READ_MODEL
from libs.service.kit import ConsumerSpec, Job, Kit, ServiceSpec, Serving
from services.collections import api, handlers, notices, projections, queries, reactions, sweeps
from services.collections.domain.notice import Letterhead
from services.collections.settings import CollectionsSettings


def assemble(kit: Kit) -> handlers.Parts:
    return handlers.Parts(
        store=kit.store,
        cases=handlers.case_streams(kit.store),
        policies=handlers.policy_stream(kit.store),
        clock=kit.clock,
        facts=queries.ReadModelFacts(),
        base_currency=kit.settings.base_currency,
    )


def reactors(kit: Kit) -> Sequence[Job | Serving]:
    own = CollectionsSettings()
    settings = kit.settings
    company = settings.company_name or "Credo"
    letterhead = Letterhead(company, settings.company_phone, settings.company_bank_name, settings.company_bank_account)
    sender = notices.Sender(
        kit.parts,
        kit.pool,
        notices.RealChannels(own, company),
        own,
        letterhead=letterhead,
        message_domain=own.mail_from.rpartition("@")[2] or "credo.local",
    )
    kit.parts.notices_queued = sender.wake
    kit.parts.letters = sender.letter
    return [sender.run]


spec = ServiceSpec(
    name="collections",
    description="Dunning, worklists, promises to pay, payment plans and escalation.",
    registry=EventRegistry.combine(
        events.registry, profiles_events.registry, receivables_events.registry, scoring_events.registry
    ),
    default_port=8104,
    read_model=[*DIRECTORY_READ_MODEL, *projections.READ_MODEL],
    own_projection=projections.project,
    routers=[api.router],
    assemble=assemble,
    reactors=reactors,
    consumers=[
        ConsumerSpec(
            "facts",
            ["profiles.events", "receivables.events", "scoring.events"],
            make_batch_handler=lambda kit: reactions.facts(kit.parts),
            batch_size=1000,
        )
    ],
    sweeps=sweeps.sweeps,
)
