"""A customer's collection case, folded from its events: each item's dunning level, the last contact,
promises, plans, blocks, the escalation and the collector."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from immutables import Map

from contracts.collections import (
    CaseEscalated,
    CollectorAssigned,
    ContactLogged,
    DunningBlocked,
    DunningStepTaken,
    DunningUnblocked,
    EscalationReported,
    NoticeSent,
    PlanAgreed,
    PlanChanged,
    PromiseMade,
    PromiseValued,
    StepReviewed,
)
from libs.events.contracts import DomainEvent
from services.collections.domain.items import Pause, last_day

EMPTY: Map[str, object] = Map()


def stream_id(customer_id: str) -> str:
    return f"collection-case-{customer_id}"


@dataclass(frozen=True, slots=True)
class Promise:
    promise_id: str
    currency: str
    amount: Decimal
    due_date: date
    invoices: tuple[str, ...]
    tolerance_days: int
    made_on: date
    outcome: str = "open"  # open, kept, partially_kept, broken, reopened
    valued_on: date | None = None

    @property
    def deadline(self) -> date:
        """The last day a payment counts toward the promise."""
        return last_day(self.due_date, self.tolerance_days)

    @property
    def pending(self) -> bool:
        return self.outcome in ("open", "reopened")


@dataclass(frozen=True, slots=True)
class Plan:
    plan_id: str
    currency: str
    invoices: tuple[str, ...]
    instalments: tuple[tuple[date, Decimal], ...]
    agreed_on: date
    missed: tuple[int, ...] = ()  # instalment numbers, from 1
    in_arrears: bool = False
    ended: str | None = None  # completed, defaulted
    ended_on: date | None = None

    @property
    def total(self) -> Decimal:
        return sum((amount for _, amount in self.instalments), Decimal(0))


@dataclass(frozen=True, slots=True)
class Block:
    block_id: str
    invoice_id: str | None
    reason: str
    start: date
    until: date  # the last day blocked
    ended_on: date | None = None


@dataclass(frozen=True, slots=True)
class Escalation:
    escalation_id: str
    to: str
    escalated_on: date
    result: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    """A call, email, visit, letter or text someone logged, with what came of it."""

    contact_id: str
    channel: str
    outcome: str
    note: str | None
    by: str
    contacted_on: date


@dataclass(frozen=True, slots=True)
class CollectionCase:
    customer_id: str
    levels: Map[str, int] = field(default_factory=Map)  # invoice -> its dunning level
    charged_through: Map[str, date] = field(default_factory=Map)  # invoice -> interest charged up to
    last_contact_on: date | None = None
    steps: int = 0
    notices_sent: int = 0
    contact_log: tuple[Contact, ...] = ()  # in the order logged
    proposed: Map[str, DunningStepTaken] = field(default_factory=Map)  # steps awaiting review
    promises: Map[str, Promise] = field(default_factory=Map)
    plans: Map[str, Plan] = field(default_factory=Map)
    blocks: Map[str, Block] = field(default_factory=Map)
    escalation: Escalation | None = None
    collector: str | None = None
    assigned_by: str | None = None  # a person, or "portfolio"
    broken_promises: int = 0

    @property
    def contacts(self) -> int:
        return len(self.contact_log)

    @property
    def contact_days(self) -> tuple[date, ...]:
        """The days people logged a contact, for the backtest."""
        return tuple(c.contacted_on for c in self.contact_log)

    def recorded_pauses(self) -> list[Pause]:
        """The promises, plans and blocks this case has held, each from its first day: what the
        backtest replays (an escalation is the proposed policy's to make)."""
        return [p for p in self.pauses() if p.reason != "escalated"]

    def pauses(self) -> list[Pause]:
        """The pauses of the dunning clock this case holds (disputes are the ledger's)."""
        found = [
            Pause("promise", p.made_on, p.valued_on if not p.pending else None, invoice)
            for p in self.promises.values()
            for invoice in (p.invoices or (None,))
        ]
        found += [
            Pause("plan", p.agreed_on, p.ended_on, invoice) for p in self.plans.values() for invoice in p.invoices
        ]
        found += [
            Pause("blocked", b.start, min(b.ended_on or last_day(b.until, 1), last_day(b.until, 1)), b.invoice_id)
            for b in self.blocks.values()
        ]
        if self.escalation is not None and self.escalation.result is None:
            found.append(Pause("escalated", self.escalation.escalated_on, None))
        return found

    @property
    def escalated(self) -> bool:
        return self.escalation is not None and self.escalation.result is None


def new_case(customer_id: str) -> CollectionCase:
    return CollectionCase(customer_id=customer_id)


def _applied(case: CollectionCase, step: DunningStepTaken) -> CollectionCase:
    levels, charged = case.levels, case.charged_through
    for item in step.items:
        if item.level_after is not None and item.level_after != item.level_before:
            levels = levels.set(item.invoice_id, item.level_after)
            charged = charged.set(item.invoice_id, step.business_date)
    return replace(
        case,
        levels=levels,
        charged_through=charged,
        last_contact_on=step.business_date,
        proposed=case.proposed.delete(step.step_id) if step.step_id in case.proposed else case.proposed,
    )


def evolve(case: CollectionCase, event: DomainEvent) -> CollectionCase:
    match event:
        case DunningStepTaken(proposed=True):
            return replace(case, steps=case.steps + 1, proposed=case.proposed.set(event.step_id, event))
        case DunningStepTaken():
            return replace(_applied(case, event), steps=case.steps + 1)
        case StepReviewed(decision="approved") if event.step_id in case.proposed:
            return _applied(case, case.proposed[event.step_id])
        case StepReviewed():
            return replace(case, proposed=case.proposed.delete(event.step_id))
        case NoticeSent():
            return replace(case, notices_sent=case.notices_sent + 1)
        case ContactLogged():
            last = max(case.last_contact_on or event.contacted_on, event.contacted_on)
            contact = Contact(event.contact_id, event.channel, event.outcome, event.note, event.by, event.contacted_on)
            return replace(case, contact_log=(*case.contact_log, contact), last_contact_on=last)
        case PromiseMade():
            promise = Promise(
                event.promise_id,
                event.amount.currency,
                event.amount.amount,
                event.due_date,
                event.invoices,
                event.tolerance_days,
                event.made_on,
            )
            return replace(case, promises=case.promises.set(event.promise_id, promise))
        case PromiseValued():
            promise = case.promises[event.promise_id]
            valued_on = None if event.outcome == "reopened" else event.valued_on
            broken = case.broken_promises + (1 if event.outcome == "broken" else 0)
            promises = case.promises.set(event.promise_id, replace(promise, outcome=event.outcome, valued_on=valued_on))
            return replace(case, promises=promises, broken_promises=broken)
        case PlanAgreed():
            plan = Plan(
                event.plan_id,
                event.instalments[0].amount.currency,
                event.invoices,
                tuple((i.due_date, i.amount.amount) for i in event.instalments),
                event.agreed_on,
            )
            return replace(case, plans=case.plans.set(event.plan_id, plan))
        case PlanChanged():
            plan = case.plans[event.plan_id]
            match event.change:
                case "instalment_missed":
                    assert event.instalment is not None
                    plan = replace(plan, missed=(*plan.missed, event.instalment), in_arrears=True)
                case "cured":
                    plan = replace(plan, in_arrears=False)
                case _:
                    plan = replace(plan, ended=event.change, ended_on=event.on)
            return replace(case, plans=case.plans.set(event.plan_id, plan))
        case CaseEscalated():
            return replace(case, escalation=Escalation(event.escalation_id, event.to, event.escalated_on))
        case EscalationReported() if case.escalation is not None:
            return replace(case, escalation=replace(case.escalation, result=event.result))
        case CollectorAssigned():
            return replace(case, collector=event.collector, assigned_by=event.by)
        case DunningBlocked():
            block = Block(event.block_id, event.invoice_id, event.reason, event.blocked_on, event.until)
            return replace(case, blocks=case.blocks.set(event.block_id, block))
        case DunningUnblocked() if event.block_id in case.blocks:
            block = replace(case.blocks[event.block_id], ended_on=event.unblocked_on)
            return replace(case, blocks=case.blocks.set(event.block_id, block))
    return case
