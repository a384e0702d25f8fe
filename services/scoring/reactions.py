"""What scoring does when profiles' and receivables' events arrive: it keeps the facts, scores
the customers they concern again, and places or releases the holds its policy keeps.

Every writer of a credit account (this reaction, the API's commands and the credit check)
first locks the account's row in the read model, so they take turns per customer; the
expected-version check on append stays the guard.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal

import asyncpg

from libs.events.clock import BusinessClock
from libs.events.consumer import BatchHandler, Delivery
from libs.events.contracts import DomainEvent, Money
from libs.events.database import Connection
from libs.events.store import Append, EventContext, EventStore
from services import directory
from services.scoring import domain, facts, scorecard
from services.scoring.events import CreditLimitSet, CustomerScored, Grade, ScoreInputs
from services.scoring.projections import ensure_accounts, inputs_digest, reserved_total, score_stream
from services.scoring.settings import Policies, policies, settings


async def locked(conn: Connection, customer_ids: Sequence[str]) -> dict[str, asyncpg.Record]:
    """The customers' credit accounts as the read model has them, locked until the transaction ends."""
    ids = sorted(set(customer_ids))  # one order for every locker, so they cannot deadlock
    await ensure_accounts(conn, ids)
    rows = await conn.fetch(
        "SELECT * FROM credit_accounts WHERE customer_id = ANY($1::text[]) ORDER BY customer_id FOR UPDATE", ids
    )
    return {row["customer_id"]: row for row in rows}


def account_of(row: asyncpg.Record) -> domain.CreditAccount:
    """The part of a credit account that policy holds and checks decide on."""
    currency = row["limit_currency"]

    def money(amount: Decimal | None) -> Money | None:
        return None if amount is None else Money.of(amount, currency)

    temporary = row["limit_expires_on"] is not None
    terms = None
    if row["credit_days"] is not None:
        terms = domain.Terms(row["credit_days"], row["discount_percent"], row["discount_days"])
    return domain.CreditAccount(
        customer_id=row["customer_id"],
        standing_limit=money(row["standing_limit"]),
        temporary_limit=money(row["limit_amount"]) if temporary else None,
        temporary_until=row["limit_expires_on"],
        holds={hold_id: hold["reason"] for hold_id, hold in json.loads(row["holds"]).items()},
        terms=terms,
    )


def scored(
    customer_id: str, inputs: ScoreInputs, previous: Grade | None, cause: str, policy: scorecard.Policy
) -> CustomerScored | None:
    try:
        result = scorecard.score(inputs, policy, previous)
    except scorecard.NothingToScore:
        return None
    return CustomerScored(
        customer_id=customer_id,
        score=result.score,
        grade=result.grade,
        previous_grade=previous,
        components=dict(result.components),
        weights=dict(result.weights),
        left_out=result.left_out,
        reasons=result.reasons,
        policy_version=result.policy_version,
        inputs=inputs,
        cause=cause,
        notes=result.notes,
    )


async def reconsider(
    store: EventStore,
    conn: Connection,
    again: facts.Reconsider,
    contexts: Mapping[str, EventContext],
    today: date,
    policy: Policies,
) -> list[DomainEvent]:
    """Score again those whose facts changed, and keep the policy's holds; in ``conn``'s transaction."""
    ids = sorted(again.holds | set(again.scores))
    if not ids:
        return []
    rows = await locked(conn, ids)
    rates = await facts.rates_on(conn, today, settings().base_currency)
    found = await facts.gather(conn, ids, today, rates, settings().base_currency)
    appends: list[Append] = []
    for customer_id in ids:
        row, known = rows[customer_id], found[customer_id]
        context = contexts.get(customer_id)
        if customer_id in again.scores:
            event = scored(customer_id, known.inputs, row["grade"], again.scores[customer_id], policy.scorecard)
            if event is not None and inputs_digest(event) != row["inputs_digest"]:
                appends.append(Append(score_stream(customer_id), row["score_version"], [event], customer_id, context))
        exposure = known.exposure.balance + reserved_total(row["reservations"], today)
        holds = domain.policy_holds(
            account_of(row),
            exposure,
            known.exposure.oldest_days_past_due,
            today,
            policy.holds,
            known.exposure.file_status,
        )
        if holds:
            appends.append(Append(domain.stream_id(customer_id), row["account_version"], holds, customer_id, context))
    await store.append_all(conn, appends)
    return [event for a in appends for event in a.events]


Decide = Callable[[domain.CreditAccount, asyncpg.Record], list[DomainEvent]]


async def command(
    store: EventStore, conn: Connection, customer_id: str, decide: Decide, today: date
) -> list[DomainEvent]:
    """Lock the account, fold its stream, decide, append; then, if the limit moved, keep the
    policy's holds. In ``conn``'s transaction; a refusal is raised as ``domain.Refused``."""
    row = (await locked(conn, [customer_id]))[customer_id]
    history = await store.load(domain.stream_id(customer_id), conn)
    account = domain.CreditAccount(customer_id=customer_id)
    for recorded in history:
        account = domain.evolve(account, recorded.event)
    events = decide(account, row)
    version = history[-1].version if history else 0
    await store.append(domain.stream_id(customer_id), version, events, customer_id=customer_id, conn=conn)
    if any(isinstance(e, CreditLimitSet) for e in events):
        await reconsider(store, conn, facts.Reconsider(holds={customer_id}), {}, today, policies())
    return events


def make_reaction(store: EventStore, clock: BusinessClock) -> BatchHandler:
    async def react(conn: Connection, deliveries: Sequence[Delivery]) -> None:
        await directory.project(conn, deliveries)
        again = await facts.project(conn, deliveries, settings().base_currency)
        contexts = {d.customer_id: EventContext.caused_by(d.envelope) for d in deliveries}  # the last of each
        await reconsider(store, conn, again, contexts, clock.today(), policies())

    return react
