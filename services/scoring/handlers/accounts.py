"""The use cases on a customer's credit account: requests through the approval chain, holds by
hand, scoring again, and the policy's holds kept as facts change.

Every writer of a credit account (these, the facts reaction and the credit check) first locks the
account's row in the read model, so they take turns per customer; the expected-version check on
append stays the guard.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg

from contracts.scoring import CreditLimitSet, Grade, RequestKind
from libs.events.clock import BusinessClock
from libs.events.commands import FoldedStreams, Ran, run
from libs.events.contracts import DomainEvent, Money
from libs.events.database import Connection
from libs.events.refusals import NotFound
from libs.events.store import Append, EventContext, Store
from libs.service.directory import Customers
from services.scoring import domain
from services.scoring.domain import CreditAccount
from services.scoring.domain.policy import Policies
from services.scoring.domain.scorecard import scored
from services.scoring.handlers.checks import CheckDesk
from services.scoring.projections import ensure_accounts, inputs_digest, reserved_total, score_stream
from services.scoring.queries import facts


@dataclass
class Parts:
    """What the use cases of scoring work with; built by the composition root."""

    store: Store
    accounts: FoldedStreams[CreditAccount]
    clock: BusinessClock
    customers: Customers
    base_currency: str
    policies: Policies
    desk: CheckDesk


def credit_accounts(store: Store) -> FoldedStreams[CreditAccount]:
    return FoldedStreams(
        store,
        stream_of=domain.stream_id,
        initial=lambda customer_id: CreditAccount(customer_id=customer_id),
        evolve=domain.evolve,
    )


# -- locking -------------------------------------------------------------------------------------------


async def locked(conn: Connection, customer_ids: Sequence[str]) -> dict[str, asyncpg.Record]:
    """The customers' credit accounts as the read model has them, locked until the transaction ends."""
    ids = sorted(set(customer_ids))  # one order for every locker, so they cannot deadlock
    await ensure_accounts(conn, ids)
    rows = await conn.fetch(
        "SELECT * FROM credit_accounts WHERE customer_id = ANY($1::text[]) ORDER BY customer_id FOR UPDATE", ids
    )
    return {row["customer_id"]: row for row in rows}


# -- commands ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestLimit:
    customer_id: str
    request_id: str
    kind: RequestKind
    amount: Money  # in the base currency
    expires_on: date | None
    by: str
    reason: str


@dataclass(frozen=True)
class RequestTerms:
    customer_id: str
    request_id: str
    terms: domain.Terms
    by: str
    reason: str


@dataclass(frozen=True)
class Approve:
    customer_id: str
    request_id: str
    by: str
    roles: Sequence[str]
    note: str | None


@dataclass(frozen=True)
class Reject:
    customer_id: str
    request_id: str
    by: str
    roles: Sequence[str]
    reason: str


@dataclass(frozen=True)
class PlaceHold:
    customer_id: str
    hold_id: str
    reason: str
    by: str


@dataclass(frozen=True)
class ReleaseHold:
    customer_id: str
    hold_id: str
    reason: str
    by: str
    roles: Sequence[str]


@dataclass(frozen=True)
class ExpireTemporaryLimit:
    customer_id: str


AccountCommand = RequestLimit | RequestTerms | Approve | Reject | PlaceHold | ReleaseHold | ExpireTemporaryLimit


async def on_account(parts: Parts, conn: Any, command: AccountCommand) -> Ran[CreditAccount]:
    """Lock the account, decide on its stream, append; then, if the limit moved, keep the policy's holds."""
    customer_id = command.customer_id
    if await parts.customers.get(conn, customer_id) is None:
        raise NotFound(f"no customer {customer_id}")
    row = (await locked(conn, [customer_id]))[customer_id]
    decide = _decision(command, row["grade"], parts.clock.today(), parts.policies)
    ran = await run(parts.accounts, conn, customer_id, decide)
    if any(isinstance(e, CreditLimitSet) for e in ran.events):
        await reconsider(parts, conn, Reconsider(holds={customer_id}))
    return ran


def _decision(
    command: AccountCommand, grade: Grade | None, today: date, policy: Policies
) -> Callable[[CreditAccount], list[DomainEvent]]:
    c = command
    match c:
        case RequestLimit():
            return lambda a: domain.request_limit(
                a, c.customer_id, c.request_id, c.kind, c.amount, c.expires_on, c.by, c.reason, today, policy.limits
            )
        case RequestTerms():
            return lambda a: domain.request_terms(
                a, c.customer_id, c.request_id, c.terms, grade, c.by, c.reason, policy.limits
            )
        case Approve():
            return lambda a: domain.approve(a, c.request_id, c.by, list(c.roles), c.note, policy.limits)
        case Reject():
            return lambda a: domain.reject(a, c.request_id, c.by, list(c.roles), c.reason, policy.limits)
        case PlaceHold():
            return lambda a: domain.place_hold(a, c.customer_id, c.hold_id, c.reason, c.by)
        case ReleaseHold():
            return lambda a: domain.release_hold(a, c.hold_id, c.reason, c.by, list(c.roles))
        case ExpireTemporaryLimit():
            return lambda a: domain.expire_temporary(a, today)


# -- scoring again and the policy's holds ----------------------------------------------------------------


@dataclass
class Reconsider:
    """The customers to look at again: to score (with the last event that asks for it), and
    whose policy holds to check."""

    scores: dict[str, str] = field(default_factory=dict)
    holds: set[str] = field(default_factory=set)


async def rescore(parts: Parts, conn: Any, customer_id: str, asked_by: str) -> list[DomainEvent]:
    """Score the customer again now from the facts in hand; nothing is recorded if nothing changed."""
    if await parts.customers.get(conn, customer_id) is None:
        raise NotFound(f"no customer {customer_id}")
    return await reconsider(parts, conn, Reconsider(scores={customer_id: f"asked by {asked_by}"}, holds={customer_id}))


async def reconsider(
    parts: Parts, conn: Any, again: Reconsider, contexts: Mapping[str, EventContext] | None = None
) -> list[DomainEvent]:
    """Score again those whose facts changed, and keep the policy's holds; in ``conn``'s transaction."""
    ids = sorted(again.holds | set(again.scores))
    if not ids:
        return []
    today, policy, base = parts.clock.today(), parts.policies, parts.base_currency
    rows = await locked(conn, ids)
    rates = await facts.rates_on(conn, today, base)
    found = await facts.gather(conn, ids, today, rates, base)
    appends: list[Append] = []
    for customer_id in ids:
        row, known = rows[customer_id], found[customer_id]
        context = (contexts or {}).get(customer_id)
        if customer_id in again.scores:
            event = scored(customer_id, known.inputs, row["grade"], again.scores[customer_id], policy.scorecard)
            if event is not None and inputs_digest(event) != row["inputs_digest"]:
                appends.append(Append(score_stream(customer_id), row["score_version"], [event], customer_id, context))
        exposure = known.exposure.balance + reserved_total(row["reservations"], today)
        holds = domain.policy_holds(
            facts.account_of(row),
            exposure,
            known.exposure.oldest_days_past_due,
            today,
            policy.holds,
            known.exposure.file_status,
        )
        if holds:
            appends.append(Append(domain.stream_id(customer_id), row["account_version"], holds, customer_id, context))
    await parts.store.append_all(conn, appends)
    return [event for a in appends for event in a.events]
