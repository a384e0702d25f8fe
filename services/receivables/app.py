"""Composition root of receivables: the service's parts, built once, and how they are wired."""

from __future__ import annotations

from contracts import collections as collections_events
from contracts import erp
from contracts import profiles as profiles_events
from contracts import receivables as events
from contracts import scoring as scoring_events
from contracts.receivables import Issuer
from libs.events.contracts import EventRegistry
from libs.service.directory import READ_MODEL as DIRECTORY_READ_MODEL
from libs.service.directory import Directory, DirectoryCustomers
from libs.service.kit import ConsumerSpec, Kit, ServiceSpec
from libs.service.settings import ServiceSettings
from services.receivables import api, handlers, positions, projections, reactions, sweeps
from services.receivables.settings import ReceivablesSettings


def issuer(settings: ServiceSettings) -> Issuer | None:
    """The company statements come from; None when its name is not configured."""
    if not settings.company_name:
        return None
    return Issuer(
        name=settings.company_name,
        address=settings.company_address,
        phone=settings.company_phone,
        bank_name=settings.company_bank_name,
        bank_account=settings.company_bank_account,
        tax_id=settings.company_tax_id,
    )


def assemble(kit: Kit) -> handlers.Parts:
    own = ReceivablesSettings()
    return handlers.Parts(
        store=kit.store,
        accounts=handlers.accounts(kit.store, own.accounts_in_memory),
        fx=handlers.fx_book(kit.store),
        clock=kit.clock,
        customers=DirectoryCustomers(),
        base_currency=kit.settings.base_currency,
        issuer=issuer(kit.settings),
        statement_font=own.statement_font,
    )


spec = ServiceSpec(
    name="receivables",
    description="The receivables ledger: invoices, payments, credit notes, disputes, aging, statements.",
    registry=EventRegistry.combine(
        events.registry, erp.documents, profiles_events.registry, collections_events.registry, scoring_events.registry
    ),
    default_port=8102,
    read_model=[*DIRECTORY_READ_MODEL, *projections.READ_MODEL],
    own_projection=projections.project,
    routers=[api.router],
    assemble=assemble,
    consumers=[
        ConsumerSpec(
            "customers",
            ["profiles.events", "collections.events"],
            make_batch_handler=lambda kit: reactions.customers_and_collections(
                kit.parts, Directory(profiles_events.directory_entry)
            ),
        ),
        ConsumerSpec("grades", ["scoring.events"], make_batch_handler=lambda kit: reactions.grades(), batch_size=1000),
        ConsumerSpec(
            reactions.ERP_DOCUMENTS,
            list(erp.DOCUMENTS),
            make_batch_handler=lambda kit: reactions.erp_documents(kit.parts),
            batch_size=2000,  # a document costs little once its account is in memory; round trips dominate
            revisions_supersede=True,
            read_in_step=True,  # fewer documents come after later ones: fewer replays of an account
        ),
    ],
    sweeps=sweeps.sweeps,
    reactors=lambda kit: [positions.keeper(kit.pool, kit.store, kit.clock, kit.catching_up)],
)
