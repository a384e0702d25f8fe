"""The credit check, at its desk: the ERP asks before every order ships, many times a second.

Checks that arrive together are decided together: one transaction locks their accounts' rows
(in one order, so desks in other processes cannot deadlock with it), decides each in turn,
appends every decision in one statement, and keeps their Idempotency-Key answers. Two checks
of one customer in a batch see each other's reservation, and a check in another process waits
for the row, so no two checks together approve more than is available. Should a batch fail,
each of its checks is tried alone, so one bad check never fails another.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import asyncpg
from fastapi import Response

from contracts.scoring import CreditCheckDecided
from libs.events.batching import Batcher
from libs.events.contracts import Money, to_minor_unit
from libs.events.database import Connection
from libs.events.store import Append, EventContext, EventStore
from libs.service import idempotency
from libs.service.errors import Problem
from libs.service.views import MoneyView
from libs.service.views import answer as answer_with
from services.scoring.domain import checks
from services.scoring.domain.exposure import in_base, total_in_base
from services.scoring.domain.policy import Policies
from services.scoring.projections import active_reservations, check_stream, ensure_accounts
from services.scoring.queries.facts import account_of, latest_rates
from services.scoring.queries.views import CheckAnswer

MAX_BATCH = 64
WRITERS = 2  # batches in flight at once; the rows they lock keep them apart

# The accounts' rows, locked, with the latest rates. Balances and reservations are read from the
# locked row versions, which are the latest committed.
_LOCKED_ACCOUNTS = f"""
SELECT a.*,
       (SELECT coalesce(jsonb_object_agg(currency, rate::text), '{{}}')
          FROM ({latest_rates("$2")}) AS latest) AS rates
  FROM credit_accounts a WHERE a.customer_id = ANY($1::text[]) ORDER BY a.customer_id FOR UPDATE OF a
"""


@dataclass(frozen=True)
class CheckRequest:
    customer_id: str
    amount: Decimal
    currency: str
    order_ref: str
    checked_by: str
    claim: idempotency.Claim | None
    context: EventContext


@dataclass
class _Account:
    """A locked account as the batch decides on it: reservations change as checks are approved."""

    row: asyncpg.Record
    reservations: dict[str, tuple[str, Decimal]] = field(default_factory=dict)


def decide(
    request: CheckRequest,
    account: _Account,
    rates: dict[str, Decimal],
    today: date,
    policy: Policies,
    base: str,
    reservation_days: int,
) -> CreditCheckDecided:
    """One check against the account as it stands, reservations of the batch included."""
    exact = in_base(request.amount, request.currency, rates)
    if exact is None:
        detail = f"no rate from {request.currency} to {base} is recorded"
        raise Problem(422, "No exchange rate", detail, kind="no-fx-rate")
    amount = to_minor_unit(exact, base)
    balances = json.loads(account.row["balances"]).items()
    open_receivables, unpriced = total_in_base(((Decimal(b), c) for c, b in balances), rates, base)
    replaces = next((d for d, (order, _) in account.reservations.items() if order == request.order_ref), None)
    reserved = sum((a for d, (_, a) in account.reservations.items() if d != replaces), Decimal(0))
    credit = account_of(account.row)
    limit = credit.limit_on(today)
    decision = checks.decide(
        amount,
        limit.amount if limit else None,
        open_receivables,
        reserved,
        list(credit.holds.values()),
        account.row["grade"],
        policy.checks,
    )
    outcome, reasons = decision.outcome, decision.reasons
    if unpriced:  # exposure is not fully known: a person decides
        reasons = (*reasons, f"no exchange rate for the balance in {', '.join(sorted(unpriced))}")
        outcome = "hold" if outcome == "hold" else "review"
    approved = outcome == "approve"
    return CreditCheckDecided(
        decision_id=f"CC-{uuid.uuid4().hex[:16]}",
        customer_id=request.customer_id,
        order_ref=request.order_ref,
        amount=Money.of(request.amount, request.currency),
        amount_in_base=Money.of(amount, base),
        outcome=outcome,
        limit=limit,
        open_receivables=Money.of(open_receivables, base),
        reserved=Money.of(reserved, base),
        available=Money.of(decision.available, base),
        reasons=reasons,
        reserved_until=today + timedelta(days=reservation_days) if approved else None,
        replaces=replaces,
        checked_by=request.checked_by,
    )


def answer(event: CreditCheckDecided) -> Response:
    def money(found: Money) -> MoneyView:
        return MoneyView.of(found.amount, found.currency)

    decided = CheckAnswer(
        decision_id=event.decision_id,
        customer_id=event.customer_id,
        order_ref=event.order_ref,
        outcome=event.outcome,
        reasons=list(event.reasons),
        reserved_until=event.reserved_until,
        replaces=event.replaces,
        amount=money(event.amount),
        amount_in_base=money(event.amount_in_base),
        limit=money(event.limit) if event.limit else None,
        open_receivables=money(event.open_receivables),
        reserved=money(event.reserved),
        available=money(event.available),
    )
    return answer_with(decided, 201)


class CheckDesk:
    """Checks that arrive together are decided together (a ``Batcher``); a second use of one
    Idempotency-Key waits for the next batch."""

    def __init__(self, store: EventStore, policies: Policies, base_currency: str, reservation_days: int) -> None:
        self.store = store
        self.policies = policies
        self.base_currency = base_currency
        self.reservation_days = reservation_days
        self._batches = Batcher[CheckRequest, Response](
            self._decide_all,
            max_batch=MAX_BATCH,
            writers=WRITERS,
            apart=lambda r: None if r.claim is None else (r.claim.principal, r.claim.key),
        )

    async def check(self, request: CheckRequest) -> Response:
        """The decision, once it is committed; a refusal is raised as a Problem."""
        return await self._batches.submit(request)

    async def _decide_all(self, batch: Sequence[CheckRequest]) -> list[Response | BaseException]:
        outcomes: dict[int, Response | BaseException] = {}
        today, base, policy = self.store.clock.today(), self.base_currency, self.policies
        async with self.store.pool.acquire() as conn, conn.transaction():
            claims = [r.claim for r in batch if r.claim is not None]
            claimed = await idempotency.claim_all(conn, claims)
            open_checks = []
            for request in batch:
                claim = request.claim
                if claim is not None and claim not in claimed:
                    try:
                        outcomes[id(request)] = await idempotency.replay(conn, claim)
                    except Problem as refused:
                        outcomes[id(request)] = refused
                else:
                    open_checks.append(request)
            accounts, rates = await _locked(conn, sorted({r.customer_id for r in open_checks}), today)
            rates[base] = Decimal(1)
            appends, kept, refused_claims = [], [], []
            for request in open_checks:
                try:
                    account = accounts.get(request.customer_id)
                    if account is None:
                        raise Problem(404, "Not found", f"no customer {request.customer_id}")
                    event = decide(request, account, rates, today, policy, base, self.reservation_days)
                except Problem as refused:
                    outcomes[id(request)] = refused
                    if request.claim is not None:
                        refused_claims.append(request.claim)
                    continue
                if event.replaces is not None:
                    account.reservations.pop(event.replaces)
                if event.outcome == "approve":
                    account.reservations[event.decision_id] = (event.order_ref, event.amount_in_base.amount)
                stream = check_stream(event.decision_id)
                appends.append(Append(stream, 0, [event], request.customer_id, request.context))
                response = answer(event)
                outcomes[id(request)] = response
                if request.claim is not None:
                    kept.append((request.claim, response))
            if appends:  # new streams named by fresh ids cannot conflict: no savepoint is needed
                await self.store.append_all(conn, appends, savepoint=False)
            if kept:
                await idempotency.keep_all(conn, kept)
            if refused_claims:
                await idempotency.release_all(conn, refused_claims)
        return [outcomes[id(r)] for r in batch]


async def _locked(
    conn: Connection, customer_ids: list[str], today: date
) -> tuple[dict[str, _Account], dict[str, Decimal]]:
    """The known customers' accounts, locked, and the latest rates; an account is opened for a
    known customer that has none yet."""
    if not customer_ids:
        return {}, {}
    rows = await conn.fetch(_LOCKED_ACCOUNTS, customer_ids, today)
    found = {r["customer_id"] for r in rows}
    missing = [c for c in customer_ids if c not in found]
    if missing:
        known = [r["customer_id"] for r in await conn.fetch(
            "SELECT customer_id FROM customers WHERE customer_id = ANY($1::text[])", missing
        )]  # fmt: skip
        if known:
            await ensure_accounts(conn, known)
            rows = await conn.fetch(_LOCKED_ACCOUNTS, customer_ids, today)
    rates = {c: Decimal(r) for c, r in json.loads(rows[0]["rates"]).items()} if rows else {}
    return {r["customer_id"]: _Account(r, dict(active_reservations(r["reservations"], today))) for r in rows}, rates
