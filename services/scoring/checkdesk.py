"""The credit-check desk: the ERP asks before every order ships, many times a second.

Checks that arrive together are decided together: one transaction locks their accounts' rows
(in one order, so desks in other processes cannot deadlock with it), decides each in turn,
appends every decision in one statement, and keeps their Idempotency-Key answers. Two checks
of one customer in a batch see each other's reservation, and a check in another process waits
for the row, so no two checks together approve more than is available. Should a batch fail,
each of its checks is tried alone, so one bad check never fails another.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

import asyncpg
from fastapi import Response
from fastapi.responses import JSONResponse

from libs.events.contracts import Money, to_minor_unit
from libs.events.database import Connection
from libs.events.store import Append, EventContext, EventStore
from libs.service import idempotency
from libs.service.errors import Problem
from libs.service.rendering import jsonable
from services.scoring import checks, facts
from services.scoring.events import CreditCheckDecided
from services.scoring.projections import active_reservations, check_stream, ensure_accounts
from services.scoring.reactions import account_of
from services.scoring.settings import Policies, policies, settings

MAX_BATCH = 64
WRITERS = 2  # batches in flight at once; the rows they lock keep them apart

# The accounts' rows, locked, with the latest rates. Balances and reservations are read from the
# locked row versions, which are the latest committed.
_LOCKED_ACCOUNTS = f"""
SELECT a.*,
       (SELECT coalesce(jsonb_object_agg(currency, rate::text), '{{}}')
          FROM ({facts.latest_rates("$2")}) AS latest) AS rates
  FROM credit_accounts a WHERE a.customer_id = ANY($1::text[]) ORDER BY a.customer_id FOR UPDATE OF a
"""

_ANSWERED = {"customer_id", "order_ref", "outcome", "reasons", "reserved_until", "replaces"}
_AMOUNTS = ("amount", "amount_in_base", "limit", "open_receivables", "reserved", "available")


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
class _Pending:
    request: CheckRequest
    done: asyncio.Future[Response]


@dataclass
class _Account:
    """A locked account as the batch decides on it: reservations change as checks are approved."""

    row: asyncpg.Record
    reservations: dict[str, tuple[str, Decimal]] = field(default_factory=dict)


def decide(
    request: CheckRequest, account: _Account, rates: dict[str, Decimal], today: date, policy: Policies, base: str
) -> CreditCheckDecided:
    """One check against the account as it stands, reservations of the batch included."""
    exact = facts.in_base(request.amount, request.currency, rates)
    if exact is None:
        detail = f"no rate from {request.currency} to {base} is recorded"
        raise Problem(422, "No exchange rate", detail, kind="no-fx-rate")
    amount = to_minor_unit(exact, base)
    balances = json.loads(account.row["balances"]).items()
    open_receivables, unpriced = facts.total_in_base(((Decimal(b), c) for c, b in balances), rates, base)
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
        reserved_until=today + timedelta(days=settings().reservation_days) if approved else None,
        replaces=replaces,
        checked_by=request.checked_by,
    )


def _rendered(money: Money | None) -> dict[str, str] | None:
    if money is None:
        return None
    return {"amount": format(to_minor_unit(money.amount, money.currency), "f"), "currency": money.currency}


def answer(event: CreditCheckDecided) -> JSONResponse:
    body: dict[str, Any] = {
        "decision_id": event.decision_id,
        **event.model_dump(mode="json", include=_ANSWERED),
        **{k: _rendered(getattr(event, k)) for k in _AMOUNTS},
    }
    return JSONResponse(jsonable(body), status_code=201)


class CheckDesk:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._queue: deque[_Pending] = deque()
        self._writers: set[asyncio.Task[None]] = set()

    async def check(self, request: CheckRequest) -> Response:
        """The decision, once it is committed; a refusal is raised as a Problem."""
        pending = _Pending(request, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        if len(self._writers) < WRITERS:
            task = asyncio.ensure_future(self._drain())
            self._writers.add(task)  # held so the task is not collected mid-batch
            task.add_done_callback(self._writers.discard)
        return await pending.done

    async def _drain(self) -> None:
        while self._queue:
            batch = self._take()
            try:
                outcomes = await self._decide_all(batch)
            except Exception:  # noqa: BLE001 - each check is tried alone and fails on its own
                for pending in batch:
                    try:
                        outcomes = await self._decide_all([pending])
                    except Exception as exc:  # noqa: BLE001 - handed to the check's caller
                        outcomes = {id(pending): exc}
                    _settle(pending, outcomes[id(pending)])
                continue
            for pending in batch:
                _settle(pending, outcomes[id(pending)])

    def _take(self) -> list[_Pending]:
        """Up to MAX_BATCH checks in order; a second use of one Idempotency-Key waits for the next batch."""
        batch: list[_Pending] = []
        keys: set[tuple[str, str]] = set()
        skipped: list[_Pending] = []
        while self._queue and len(batch) < MAX_BATCH:
            pending = self._queue.popleft()
            claim = pending.request.claim
            if claim is not None and (claim.principal, claim.key) in keys:
                skipped.append(pending)
                continue
            if claim is not None:
                keys.add((claim.principal, claim.key))
            batch.append(pending)
        self._queue.extendleft(reversed(skipped))
        return batch

    async def _decide_all(self, batch: list[_Pending]) -> dict[int, Response | BaseException]:
        outcomes: dict[int, Response | BaseException] = {}
        today, base, policy = self.store.clock.today(), settings().base_currency, policies()
        async with self.store.pool.acquire() as conn, conn.transaction():
            claims = [p.request.claim for p in batch if p.request.claim is not None]
            claimed = await idempotency.claim_all(conn, claims)
            open_checks = []
            for pending in batch:
                claim = pending.request.claim
                if claim is not None and claim not in claimed:
                    try:
                        outcomes[id(pending)] = await idempotency.replay(conn, claim)
                    except Problem as refused:
                        outcomes[id(pending)] = refused
                else:
                    open_checks.append(pending)
            accounts, rates = await _locked(conn, sorted({p.request.customer_id for p in open_checks}), today)
            rates[base] = Decimal(1)
            appends, kept, refused_claims = [], [], []
            for pending in open_checks:
                request = pending.request
                try:
                    account = accounts.get(request.customer_id)
                    if account is None:
                        raise Problem(404, "Not found", f"no customer {request.customer_id}")
                    event = decide(request, account, rates, today, policy, base)
                except Problem as refused:
                    outcomes[id(pending)] = refused
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
                outcomes[id(pending)] = response
                if request.claim is not None:
                    kept.append((request.claim, response))
            if appends:  # new streams named by fresh ids cannot conflict: no savepoint is needed
                await self.store.append_all(conn, appends, savepoint=False)
            if kept:
                await idempotency.keep_all(conn, kept)
            if refused_claims:
                await idempotency.release_all(conn, refused_claims)
        return outcomes


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


def _settle(pending: _Pending, outcome: Response | BaseException) -> None:
    if pending.done.done():
        return
    if isinstance(outcome, BaseException):
        pending.done.set_exception(outcome)
    else:
        pending.done.set_result(outcome)


_desks: WeakKeyDictionary[EventStore, CheckDesk] = WeakKeyDictionary()


def desk_of(store: EventStore) -> CheckDesk:
    """The service's one desk, made on first use."""
    desk = _desks.get(store)
    if desk is None:
        desk = _desks[store] = CheckDesk(store)
    return desk
