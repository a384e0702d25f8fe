"""The use cases of collections: the only code that loads cases and the policy, decides and appends.

Each takes the parts the composition root built and a command, and runs in the caller's
transaction (``conn``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

import structlog

from contracts.collections import (
    POLICY_STREAM,
    CaseEscalated,
    Channel,
    ChargesPosted,
    CollectorAssigned,
    ContactChannel,
    ContactLogged,
    ContactOutcome,
    DisputeRequested,
    DunningBlocked,
    DunningPolicyReleased,
    DunningStepTaken,
    DunningUnblocked,
    EscalationReported,
    EscalationResult,
    EscalationTo,
    GradeOrUnrated,
    NoticeFailed,
    NoticeSent,
    PlanAgreed,
    PlanChanged,
    PlanInstalment,
    Policy,
    PromiseMade,
    PromiseValued,
    StepReviewed,
)
from libs.events.clock import BusinessClock, check_replay_period
from libs.events.commands import ATTEMPTS, FoldedStreams, Loaded, run
from libs.events.contracts import DomainEvent, Money
from libs.events.refusals import NotFound, Refused
from libs.events.store import ConcurrencyConflict, EventContext, Store
from libs.events.versions import Versions, version_stream
from services.collections.domain import case as cases
from services.collections.domain.backtest import MAX_DAYS, Backtest, Basis, CustomerHistory, backtest
from services.collections.domain.case import CollectionCase
from services.collections.domain.dunning import Standing, assess, decide, escalation_reason
from services.collections.domain.items import OpenItem, Pause
from services.collections.domain.policy import FIRST_POLICY, check
from services.collections.domain.valuation import Cash, plan_course, value_promise
from services.collections.domain.worklist import portfolio_of

log = structlog.get_logger(__name__)


# -- the policy's versions ------------------------------------------------------------------------


# Every version of the dunning policy; version 1 is the policy Credo ships with.
PolicyBook = Versions[Policy]


def _released(event: DomainEvent) -> tuple[int, Policy] | None:
    return (event.version, event.policy) if isinstance(event, DunningPolicyReleased) else None


# -- what the use cases read of others' facts ----------------------------------------------------------


@dataclass(frozen=True)
class CustomerFacts:
    """What the read model knows of a customer that dunning and valuation work on."""

    customer_id: str
    items: Sequence[OpenItem]
    disputes: Sequence[Pause]
    standing: Standing
    cash: Sequence[Cash]
    country: str | None = None


class Facts(Protocol):
    async def history_of(self, conn: Any, customer_ids: Sequence[str] | None) -> dict[str, CustomerHistory]:
        """Each customer's recorded history, for the backtest (every customer with ``None``)."""

    async def of(self, conn: Any, customer_ids: Sequence[str]) -> dict[str, CustomerFacts]:
        """The facts of each customer known to the directory (others are left out)."""


async def _no_letters(_: str) -> bytes | None:
    return None


@dataclass
class Parts:
    store: Store
    cases: FoldedStreams[CollectionCase]
    policies: FoldedStreams[PolicyBook]
    clock: BusinessClock
    facts: Facts
    base_currency: str
    notices_queued: Callable[[], None] = lambda: None  # wakes the sender: call it once the notices are committed
    letters: Callable[[str], Awaitable[bytes | None]] = _no_letters  # a letter sent, as PDF


def case_streams(store: Store) -> FoldedStreams[CollectionCase]:
    return FoldedStreams(store, stream_of=cases.stream_id, initial=cases.new_case, evolve=cases.evolve, capacity=5000)


def policy_stream(store: Store) -> FoldedStreams[PolicyBook]:
    return version_stream(store, POLICY_STREAM, FIRST_POLICY, _released)


async def policy_book(parts: Parts, conn: Any) -> PolicyBook:
    return (await parts.policies.load(conn, POLICY_STREAM)).state


async def release_policy(parts: Parts, conn: Any, policy: Policy, by: str, reason: str) -> int:
    check(policy)

    def release(book: PolicyBook) -> list[DomainEvent]:
        return [
            DunningPolicyReleased(
                version=book.version + 1, policy=policy, released_by=by, reason=reason, released_on=parts.clock.today()
            )
        ]

    ran = await run(parts.policies, conn, POLICY_STREAM, release)
    return ran.after.state.version


# -- the daily run ----------------------------------------------------------------------------------


def _pauses(case: CollectionCase, facts: CustomerFacts) -> list[Pause]:
    return [*facts.disputes, *case.pauses()]


def _posted(step: DunningStepTaken) -> list[DomainEvent]:
    """The step's fee and interest, posted to the ledger as its notice goes out."""
    if not step.charges:
        return []
    return [
        ChargesPosted(
            customer_id=step.customer_id, step_id=step.step_id, business_date=step.business_date, charges=step.charges
        )
    ]


def step_id(customer_id: str, day: date) -> str:
    return f"{customer_id}-{day.isoformat()}"


async def dunning_run(
    parts: Parts, conn: Any, customer_ids: Sequence[str], day: date, known: Mapping[str, CustomerFacts] | None = None
) -> int:
    """The day's dunning for these customers (their facts, when the caller has read them already): a
    step (and its notice) for each whose items rise, and the escalations the policy makes; answers
    the events recorded."""
    book = await policy_book(parts, conn)
    policy, version = book.current, book.version
    known = known if known is not None else await parts.facts.of(conn, customer_ids)

    def dun(customer_id: str, case: CollectionCase) -> list[DomainEvent]:
        facts = known[customer_id]
        items = assess(facts.items, case.levels, case.charged_through, _pauses(case, facts), day)
        assignment = _by_portfolio(policy, case, facts, items)
        events: list[DomainEvent] = [] if assignment is None else [assignment]
        if case.escalated or case.proposed or case.last_contact_on == day:
            return events  # with legal until they report; a proposed step waits for review; one contact a day
        step = decide(policy, version, items, facts.standing, case.last_contact_on, day, step_id(customer_id, day))
        if step is not None:
            step = step.model_copy(update={"customer_id": customer_id})
            events += [step] if step.proposed else [step, *_posted(step)]
        escalation = _escalation_by_policy(policy, case, items, facts.standing.grade, day)
        if escalation is not None:
            events.append(escalation.model_copy(update={"customer_id": customer_id}))
        return events

    return await _for_each_case(parts, conn, list(known), dun)


async def _for_each_case(
    parts: Parts,
    conn: Any,
    customer_ids: Sequence[str],
    decide_one: Callable[[str, CollectionCase], list[DomainEvent]],
    contexts: Mapping[str, EventContext] | None = None,
) -> int:
    """Decide on each customer's case and append what was decided, in one statement; when the sender
    or a collector wrote to one of the cases meanwhile, everything is decided again on fresh state."""
    for attempt in range(1, ATTEMPTS + 1):
        loaded = await parts.cases.load_many(conn, list(customer_ids))
        decisions: dict[str, tuple[Loaded[CollectionCase], Sequence[DomainEvent]]] = {
            c: (loaded[c], events) for c in customer_ids if (events := decide_one(c, loaded[c].state))
        }
        if not decisions:
            return 0
        each = {c: [(contexts or {}).get(c) or EventContext.current()] * len(e) for c, (_, e) in decisions.items()}
        try:
            await parts.cases.append(conn, decisions, each)
        except ConcurrencyConflict:
            if attempt == ATTEMPTS:
                raise
            continue
        return sum(len(events) for _, events in decisions.values())
    raise AssertionError("unreachable")


def _by_portfolio(
    policy: Policy, case: CollectionCase, facts: CustomerFacts, items: Sequence[Any]
) -> CollectorAssigned | None:
    """A case not assigned by hand goes to the collector of the first portfolio rule it matches."""
    if not policy.portfolios or (case.collector is not None and case.assigned_by != "portfolio"):
        return None
    overdue: dict[str, Decimal] = defaultdict(Decimal)
    open_: dict[str, Decimal] = defaultdict(Decimal)
    for item in items:
        overdue[item.currency] += item.overdue
        open_[item.currency] += item.open
    found = portfolio_of(policy.portfolios, facts.standing.grade, facts.country, overdue, open_)
    if found is None or found[1].collector == case.collector:
        return None
    number, rule = found
    return CollectorAssigned(
        customer_id=case.customer_id, collector=rule.collector, by="portfolio", rule=f"portfolio rule {number}"
    )


def _escalation_by_policy(
    policy: Policy, case: CollectionCase, items: Sequence[Any], grade: GradeOrUnrated, day: date
) -> CaseEscalated | None:
    if case.escalated:
        return None
    reason = escalation_reason(policy, items, grade)
    if reason is None or policy.escalation is None:
        return None
    return _escalated(case, items, to=policy.escalation.to, agency=None, reason=reason, by="policy", day=day)


def _escalated(
    case: CollectionCase, items: Sequence[Any], *, to: EscalationTo, agency: str | None, reason: str, by: str, day: date
) -> CaseEscalated:
    open_: dict[str, Decimal] = defaultdict(Decimal)
    for item in items:
        open_[item.currency] += item.open
    return CaseEscalated(
        customer_id=case.customer_id,
        escalation_id=f"E-{uuid.uuid4().hex[:10].upper()}",
        to=to,
        agency=agency,
        reason=reason,
        by=by,
        escalated_on=day,
        open=tuple(Money(amount=a, currency=c) for c, a in sorted(open_.items())),
        items=tuple(item.invoice_id for item in items),
        notices_sent=case.notices_sent,
        contacts=case.contacts,
        promises=len(case.promises),
    )


# -- promises and plans valued against cash ---------------------------------------------------------------


async def value_commitments(
    parts: Parts, conn: Any, customer_ids: Sequence[str], day: date, contexts: Mapping[str, EventContext] | None = None
) -> int:
    """Value the promises and plans of these customers against their cash on ``day``."""
    loaded = await parts.cases.load_many(conn, list(customer_ids))
    busy = [
        customer_id
        for customer_id, case in loaded.items()
        if any(p.pending or p.outcome == "kept" for p in case.state.promises.values())
        or any(p.ended is None for p in case.state.plans.values())
    ]
    if not busy:
        return 0
    policy = (await policy_book(parts, conn)).current
    known = await parts.facts.of(conn, busy)

    def value(customer_id: str, case: CollectionCase) -> list[DomainEvent]:
        cash = known[customer_id].cash
        events: list[DomainEvent] = []
        for promise in case.promises.values():
            valued = value_promise(promise, cash, day)
            if valued is not None:
                outcome, toward = valued
                events.append(
                    PromiseValued(
                        customer_id=customer_id,
                        promise_id=promise.promise_id,
                        outcome=outcome,
                        paid=Money(amount=toward, currency=promise.currency),
                        valued_on=day,
                    )
                )
        defaulted = False
        for plan in case.plans.values():
            for change, instalment, toward, due in plan_course(
                plan, cash, day, policy.plan_grace_days, policy.plan_defaults_after_missed
            ):
                events.append(
                    PlanChanged(
                        customer_id=customer_id,
                        plan_id=plan.plan_id,
                        change=change,
                        instalment=instalment,
                        paid=Money(amount=toward, currency=plan.currency),
                        due=Money(amount=due, currency=plan.currency),
                        on=day,
                    )
                )
                defaulted = defaulted or change == "defaulted"
        rule = policy.escalation
        if defaulted and rule is not None and rule.on_plan_default and not case.escalated:
            items = assess(known[customer_id].items, case.levels, case.charged_through, [], day)
            events.append(
                _escalated(
                    case, items, to=rule.to, agency=None, reason="a payment plan defaulted", by="policy", day=day
                )
            )
        return events

    return await _for_each_case(parts, conn, list(known), value, contexts)


# -- what collectors do -----------------------------------------------------------------------------------


async def _facts_of(parts: Parts, conn: Any, customer_id: str) -> CustomerFacts:
    found = (await parts.facts.of(conn, [customer_id])).get(customer_id)
    if found is None:
        raise NotFound(f"no customer {customer_id}")
    return found


def _open_items(facts: CustomerFacts, invoices: Sequence[str], field_name: str) -> list[OpenItem]:
    by_id = {item.invoice_id: item for item in facts.items if item.open > 0}
    missing = [i for i in invoices if i not in by_id]
    if missing:
        raise Refused(f"{field_name}: {', '.join(missing)} is not an open invoice of {facts.customer_id}")
    return [by_id[i] for i in invoices]


@dataclass(frozen=True)
class RequestDispute:
    invoice_id: str
    amount: Money
    reason: str


@dataclass(frozen=True)
class LogContact:
    customer_id: str
    channel: ContactChannel
    outcome: ContactOutcome
    note: str | None
    by: str
    promise: MakePromise | None = None
    dispute: RequestDispute | None = None


@dataclass(frozen=True)
class MakePromise:
    customer_id: str
    amount: Money
    due_date: date
    invoices: tuple[str, ...]
    by: str


async def log_contact(parts: Parts, conn: Any, command: LogContact) -> str:
    await _facts_of(parts, conn, command.customer_id)
    contact_id = f"K-{uuid.uuid4().hex[:10].upper()}"
    if (command.outcome == "promises_to_pay") != (command.promise is not None):
        raise Refused("promise: a contact whose outcome is promises_to_pay carries its promise, and only that one")
    if (command.outcome == "disputes_it") != (command.dispute is not None):
        raise Refused("dispute: a contact whose outcome is disputes_it carries the dispute, and only that one")
    events: list[DomainEvent] = [
        ContactLogged(
            customer_id=command.customer_id,
            contact_id=contact_id,
            channel=command.channel,
            outcome=command.outcome,
            note=command.note,
            by=command.by,
            contacted_on=parts.clock.today(),
        )
    ]
    if command.promise is not None:
        events.append(await _promise(parts, conn, command.promise, contact_id))
    if command.dispute is not None:
        events.append(await _dispute(parts, conn, command.customer_id, command.dispute, command.by, contact_id))
    await run(parts.cases, conn, command.customer_id, lambda _: events)
    return contact_id


async def _dispute(
    parts: Parts, conn: Any, customer_id: str, dispute: RequestDispute, by: str, contact_id: str
) -> DisputeRequested:
    (item,) = _open_items(await _facts_of(parts, conn, customer_id), [dispute.invoice_id], "dispute.invoice_id")
    if dispute.amount.currency != item.currency or not 0 < dispute.amount.amount <= item.open:
        raise Refused(
            f"dispute.amount: {dispute.amount.amount} {dispute.amount.currency} is not within the "
            f"{item.open} {item.currency} open on invoice {item.number}"
        )
    return DisputeRequested(
        customer_id=customer_id,
        request_id=f"D-{uuid.uuid4().hex[:12].upper()}",
        invoice_id=dispute.invoice_id,
        amount=dispute.amount,
        reason=dispute.reason,
        by=by,
        contact_id=contact_id,
        requested_on=parts.clock.today(),
    )


async def _promise(parts: Parts, conn: Any, command: MakePromise, contact_id: str | None) -> PromiseMade:
    today = parts.clock.today()
    if command.due_date < today:
        raise Refused(f"due_date: a promise is to pay on or after today ({today}), not on {command.due_date}")
    facts = await _facts_of(parts, conn, command.customer_id)
    items = _open_items(facts, command.invoices, "invoices")
    wrong = [i.number for i in items if i.currency != command.amount.currency]
    if wrong:
        raise Refused(f"amount: the promise is in {command.amount.currency}, invoices {', '.join(wrong)} are not")
    policy = (await policy_book(parts, conn)).current
    return PromiseMade(
        customer_id=command.customer_id,
        promise_id=f"PR-{uuid.uuid4().hex[:10].upper()}",
        amount=command.amount,
        due_date=command.due_date,
        invoices=command.invoices,
        tolerance_days=policy.promise_tolerance_days,
        by=command.by,
        made_on=today,
        contact_id=contact_id,
    )


async def make_promise(parts: Parts, conn: Any, command: MakePromise) -> str:
    made = await _promise(parts, conn, command, None)
    await run(parts.cases, conn, command.customer_id, lambda _: [made])
    return made.promise_id


@dataclass(frozen=True)
class AgreePlan:
    customer_id: str
    invoices: tuple[str, ...]
    instalments: tuple[PlanInstalment, ...]
    by: str


async def agree_plan(parts: Parts, conn: Any, command: AgreePlan) -> str:
    today = parts.clock.today()
    facts = await _facts_of(parts, conn, command.customer_id)
    items = _open_items(facts, command.invoices, "invoices")
    currencies = {i.currency for i in items} | {i.amount.currency for i in command.instalments}
    if len(currencies) != 1:
        raise Refused(f"instalments: a plan is in one currency; these are in {', '.join(sorted(currencies))}")
    dates = [i.due_date for i in command.instalments]
    if dates != sorted(set(dates)) or dates[0] < today:
        raise Refused(f"instalments: due dates rise, one instalment a day, none before today ({today})")
    owed = sum((i.open for i in items), Decimal(0))
    planned = sum((i.amount.amount for i in command.instalments), Decimal(0))
    if planned != owed:
        (currency,) = currencies
        raise Refused(
            f"instalments: they add up to {planned} {currency}, the invoices' open amount is {owed} {currency}"
        )

    def agree(case: CollectionCase) -> list[DomainEvent]:
        active = [p.plan_id for p in case.plans.values() if p.ended is None]
        if active:
            raise Refused(f"plan {active[0]} is still running for {command.customer_id}")
        return [
            PlanAgreed(
                customer_id=command.customer_id,
                plan_id=plan_id,
                invoices=command.invoices,
                instalments=command.instalments,
                by=command.by,
                agreed_on=today,
            )
        ]

    plan_id = f"PL-{uuid.uuid4().hex[:10].upper()}"
    await run(parts.cases, conn, command.customer_id, agree)
    return plan_id


async def escalate(
    parts: Parts, conn: Any, customer_id: str, to: EscalationTo, agency: str | None, reason: str, by: str
) -> str:
    facts = await _facts_of(parts, conn, customer_id)
    today = parts.clock.today()

    def hand_over(case: CollectionCase) -> list[DomainEvent]:
        if case.escalated:
            raise Refused(f"{customer_id} is already with {case.escalation.to if case.escalation else 'legal'}")
        items = assess(facts.items, case.levels, case.charged_through, [], today)
        if not items:
            raise Refused(f"{customer_id} has no open items to hand over")
        return [_escalated(case, items, to=to, agency=agency, reason=reason, by=by, day=today)]

    ran = await run(parts.cases, conn, customer_id, hand_over)
    event = ran.events[0]
    assert isinstance(event, CaseEscalated)
    return event.escalation_id


async def report_escalation(
    parts: Parts,
    conn: Any,
    customer_id: str,
    result: EscalationResult,
    recovered: Money | None,
    note: str | None,
    by: str,
) -> None:
    def report(case: CollectionCase) -> list[DomainEvent]:
        if not case.escalated or case.escalation is None:
            raise Refused(f"{customer_id} is not with legal or an agency")
        return [
            EscalationReported(
                customer_id=customer_id,
                escalation_id=case.escalation.escalation_id,
                result=result,
                recovered=recovered,
                note=note,
                by=by,
                reported_on=parts.clock.today(),
            )
        ]

    await _facts_of(parts, conn, customer_id)
    await run(parts.cases, conn, customer_id, report)


async def assign_collector(parts: Parts, conn: Any, customer_id: str, collector: str, by: str, rule: str) -> None:
    await _facts_of(parts, conn, customer_id)

    def assign(case: CollectionCase) -> list[DomainEvent]:
        if case.collector == collector:
            return []
        return [CollectorAssigned(customer_id=customer_id, collector=collector, by=by, rule=rule)]

    await run(parts.cases, conn, customer_id, assign)


async def block(
    parts: Parts, conn: Any, customer_id: str, invoice_id: str | None, reason: str, until: date, by: str
) -> str:
    today = parts.clock.today()
    if until < today:
        raise Refused(f"until: a block ends on or after today ({today})")
    facts = await _facts_of(parts, conn, customer_id)
    if invoice_id is not None:
        _open_items(facts, [invoice_id], "invoice_id")
    block_id = f"B-{uuid.uuid4().hex[:10].upper()}"
    event = DunningBlocked(
        customer_id=customer_id,
        block_id=block_id,
        invoice_id=invoice_id,
        reason=reason,
        until=until,
        by=by,
        blocked_on=today,
    )
    await run(parts.cases, conn, customer_id, lambda _: [event])
    return block_id


async def unblock(parts: Parts, conn: Any, customer_id: str, block_id: str, by: str) -> None:
    def lift(case: CollectionCase) -> list[DomainEvent]:
        if block_id not in case.blocks or case.blocks[block_id].ended_on is not None:
            raise NotFound(f"no standing block {block_id} on {customer_id}")
        return [DunningUnblocked(customer_id=customer_id, block_id=block_id, by=by, unblocked_on=parts.clock.today())]

    await run(parts.cases, conn, customer_id, lift)


async def review_step(
    parts: Parts,
    conn: Any,
    customer_id: str,
    step: str,
    approve: bool,
    channels: tuple[Channel, ...] | None,
    note: str | None,
    by: str,
) -> None:
    def review(case: CollectionCase) -> list[DomainEvent]:
        if step not in case.proposed:
            raise NotFound(f"no proposed step {step} for {customer_id}")
        reviewed = StepReviewed(
            customer_id=customer_id,
            step_id=step,
            decision="approved" if approve else "skipped",
            channels=channels if approve else None,
            note=note,
            by=by,
        )
        return [reviewed, *_posted(case.proposed[step])] if approve else [reviewed]

    await run(parts.cases, conn, customer_id, review)


# -- the policy backtest -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhatIf:
    backtest: Backtest
    customers: int
    recorded_escalations: list[tuple[str, date]]


async def what_if(
    parts: Parts,
    conn: Any,
    policy: Policy,
    start: date,
    end: date,
    customer_ids: Sequence[str] | None,
    basis: Basis = "recorded",
) -> WhatIf:
    """The proposed policy's daily runs replayed over the recorded history from ``start`` to ``end``
    (at most a year, up to today), changing nothing."""
    check(policy)
    check_replay_period(start, end, parts.clock.today(), MAX_DAYS)
    found = await parts.facts.history_of(conn, customer_ids)
    cases_of = await parts.cases.load_many(conn, list(found))
    histories = [
        replace(h, pauses=[*h.pauses, *cases_of[c].state.recorded_pauses()], contacts=cases_of[c].state.contact_days)
        for c, h in found.items()
    ]
    started = time.monotonic()

    def progress(done: int, of: int) -> None:
        log.info("what-if.progress", customers_done=done, customers=of, seconds=round(time.monotonic() - started, 1))

    # Pure and CPU-bound: off the event loop, so the service keeps answering meanwhile.
    result = await asyncio.to_thread(backtest, policy, histories, start, end, basis, progress)
    escalated = [
        (c, e.escalated_on)
        for c, loaded in cases_of.items()
        if (e := loaded.state.escalation) is not None and start <= e.escalated_on <= end
    ]
    return WhatIf(result, len(histories), sorted(escalated))


# -- the sender's records ---------------------------------------------------------------------------------


async def record_delivery(parts: Parts, conn: Any, outcome: NoticeSent | NoticeFailed) -> None:
    """What the sender did with a notice, as an event of the case."""
    await run(parts.cases, conn, outcome.customer_id, lambda _: [outcome])
