"""The use cases of receivables: the only code that loads accounts, decides and appends."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from libs.events.contracts import DomainEvent
from libs.events.database import Connection
from libs.events.refusals import NotFound, Refused, check_version
from libs.events.store import ConcurrencyConflict, EventContext, EventStore
from services.receivables import domain, erp, queries, reports, statements
from services.receivables.accounts import Accounts, Loaded
from services.receivables.events import FxRateProposed, FxRateRecorded, Issuer, StatementIssued


@dataclass(frozen=True)
class ErpDocumentReceived:
    """One revision of one of the ERP's documents, from its topics or posted over HTTP."""

    document: erp.ErpDocument
    document_id: str
    revision: int
    context: EventContext


@dataclass(frozen=True)
class Applied:
    customer_id: str
    events: list[DomainEvent]  # what this document changed, with any allocations it made again
    account_version: int


async def receive_erp_documents(
    conn: Connection, accounts: Accounts, received: Sequence[ErpDocumentReceived], today: date
) -> list[Applied]:
    """Apply the ERP's documents to their customers' accounts, in ``conn``'s transaction, each
    account's in one append; answers what each document did, in the order given.

    Raises ``erp.UnknownCustomer`` for a document whose customer is not registered, and
    ``domain.Refused`` for one the ledger refuses: the caller sets it aside.
    """
    customers = await erp.customers_for(conn, [r.document.customer_erp_id for r in received])
    queues: dict[str, list[int]] = {}
    for index, r in enumerate(received):
        customer_id = customers.get(r.document.customer_erp_id)
        if customer_id is None:
            raise erp.unknown_customer(r.document.customer_erp_id)
        queues.setdefault(customer_id, []).append(index)
    loaded = await accounts.load_many(conn, list(queues))
    decided: dict[str, tuple[Loaded, list[DomainEvent]]] = {}
    causes: dict[str, list[EventContext]] = {}
    folded: dict[str, domain.Account] = {}
    per_index: dict[int, list[DomainEvent]] = {}
    for customer_id, indexes in queues.items():
        base = loaded[customer_id]
        docs = [received[i].document.document(received[i].document_id, received[i].revision) for i in indexes]
        per_document, realigned = domain.receive_documents(base.account, customer_id, docs, today)
        events: list[DomainEvent] = []
        contexts: list[EventContext] = []
        for position, new in per_document:
            i = indexes[position]
            per_index[i] = new
            events += new
            contexts += [received[i].context] * len(new)  # each event names the document that caused it
        if realigned:  # caused by the batch's last document of the customer
            per_index[indexes[-1]] = per_index[indexes[-1]] + realigned
            events += realigned
            contexts += [received[indexes[-1]].context] * len(realigned)
        decided[customer_id], causes[customer_id] = (base, events), contexts
        folded[customer_id] = domain.fold(events, base.account)
    after = await accounts.append(conn, decided, causes, folded)
    answer = {i: c for c, indexes in queues.items() for i in indexes}
    return [Applied(answer[i], per_index[i], after[answer[i]].version) for i in range(len(received))]


# -- commands on one account ---------------------------------------------------------------------------------

Decide = Callable[[domain.Account], list[DomainEvent]]


async def on_account(
    conn: Connection, accounts: Accounts, customer_id: str, decide: Decide, *, expected_version: int | None = None
) -> list[DomainEvent]:
    """Load the account, decide, append in ``conn``'s transaction; a race lost to another writer is
    decided again on fresh state, unless the caller named the version it expects (If-Match)."""
    if not await conn.fetchval("SELECT true FROM customers WHERE customer_id = $1", customer_id):
        raise NotFound(f"no customer {customer_id}")
    for attempt in range(1, 6):
        loaded = await accounts.load(conn, customer_id)
        check_version(expected_version, loaded.version)
        events = decide(loaded.account)
        try:
            await accounts.append(conn, {customer_id: (loaded, events)})
        except ConcurrencyConflict:
            if attempt == 5 or expected_version is not None:
                raise
            continue
        return events
    raise AssertionError("unreachable")


# -- FX rates ---------------------------------------------------------------------------------------------------

FX_CONFIRMATION_ABOVE = Decimal(20)  # percent away from the rate in force: a second person confirms it


async def record_fx_rate(
    conn: Connection, store: EventStore, currency: str, base: str, rate: Decimal, rate_date: date, by: str, today: date
) -> FxRateRecorded | FxRateProposed:
    """Record a rate to the base currency; one more than 20 % away from the latest rate of its
    currency is only proposed, until a second person confirms it."""
    if currency == base:
        raise Refused(f"{currency} is the base currency; its rate is 1")
    if rate_date > today:
        raise Refused(f"a rate dated {rate_date.isoformat()} is after today's business date {today.isoformat()}")
    previous = await queries.latest_rate(conn, currency)
    event: FxRateRecorded | FxRateProposed
    if previous is not None and abs(rate - previous) * 100 > previous * FX_CONFIRMATION_ABOVE:
        event = FxRateProposed(
            proposal_id=f"FX-{uuid.uuid4().hex[:10].upper()}",
            currency=currency,
            base_currency=base,
            rate=rate,
            rate_date=rate_date,
            previous_rate=previous,
            change_percent=((rate - previous) * 100 / previous).quantize(Decimal("0.01"), ROUND_HALF_UP),
            proposed_by=by,
            recorded_on=today,
        )
    else:
        event = FxRateRecorded(
            currency=currency, base_currency=base, rate=rate, rate_date=rate_date, recorded_on=today, recorded_by=by
        )
    await _append_rate(conn, store, event)
    return event


async def confirm_fx_rate(
    conn: Connection, store: EventStore, proposal_id: str, by: str, today: date
) -> FxRateRecorded:
    proposal = await queries.fx_proposal(conn, proposal_id)
    if proposal["status"] != "waiting":
        raise Refused(f"proposal {proposal_id} is already {proposal['status']}")
    if same_person(proposal["proposed_by"], by):
        raise Refused(f"{by} proposed this rate; another person confirms it")
    event = FxRateRecorded(
        currency=proposal["currency"],
        base_currency=proposal["base_currency"],
        rate=proposal["rate"],
        rate_date=proposal["rate_date"],
        recorded_on=today,
        recorded_by=proposal["proposed_by"],
        proposal_id=proposal_id,
        confirmed_by=by,
    )
    await _append_rate(conn, store, event)
    return event


async def _append_rate(conn: Connection, store: EventStore, event: FxRateRecorded | FxRateProposed) -> None:
    version = await store.current_version(reports.FX_STREAM, conn)
    await store.append(reports.FX_STREAM, version, [event], customer_id=reports.FX_KEY, conn=conn)


def same_person(a: str, b: str) -> bool:
    """Subjects name one person however they are written: ``Analyst-1`` is ``analyst-1``."""
    return a.strip().casefold() == b.strip().casefold()


# -- statements -----------------------------------------------------------------------------------------------


async def issue_statement(
    conn: Connection,
    store: EventStore,
    accounts: Accounts,
    customer_id: str,
    period: tuple[date, date],
    ledger_version: int | None,
    known_on: date | None,
    issuer: Issuer,
    today: date,
) -> str:
    """A statement of the period pinned to a ledger point: the one given, or the last event recorded
    by the end of ``known_on``, or the account's version now; answers its id."""
    found = await queries.customer(conn, customer_id)
    history = [r.event for r in await store.load(domain.stream_id(customer_id), conn)]
    if known_on is not None:
        if known_on > today:
            raise Refused(f"known_on {known_on.isoformat()} is after today ({today.isoformat()})")
        ledger_version = len(list(itertools.takewhile(lambda e: domain.recorded_on(e) <= known_on, history))) or None
        if ledger_version is None:
            raise Refused(f"nothing was recorded on the account by {known_on.isoformat()}")
    point = ledger_version or len(history)
    if point > len(history):
        raise Refused(f"the account is at version {len(history)}, not yet {point}")
    statement_id = f"S-{uuid.uuid4().hex[:12].upper()}"
    heading = statements.Heading(customer_id, found["legal_name"], found.get("address"), issuer, *period, point)
    document = statements.statement_document(heading, history)
    closing, digest = statements.closing_balances(document), statements.digest(document)
    await on_account(
        conn,
        accounts,
        customer_id,
        lambda account: domain.issue_statement(
            account,
            statement_id,
            heading.customer_name,
            heading.customer_address,
            issuer,
            period,
            point,
            closing,
            digest,
            today,
        ),
    )
    return statement_id


async def statement_document(
    store: EventStore, conn: Connection, customer_id: str, statement_id: str
) -> tuple[StatementIssued, dict[str, Any]]:
    """A statement as issued, and its document reproduced from the events up to its ledger point."""
    history = [r.event for r in await store.load(domain.stream_id(customer_id), conn)]
    issued = next((e for e in history if isinstance(e, StatementIssued) and e.statement_id == statement_id), None)
    if issued is None:
        raise NotFound(f"customer {customer_id} has no statement {statement_id}")
    heading = statements.Heading(
        customer_id,
        issued.customer_name,
        issued.customer_address,
        issued.issuer,
        issued.period_start,
        issued.period_end,
        issued.ledger_version,
    )
    return issued, statements.statement_document(heading, history)
