"""The daily dunning decision for one customer: which items rise to which level, and whether one
consolidated notice goes out. Two steps, so that a recorded step can be replayed from its inputs:
``assess`` reads the clocks off the items and pauses, ``decide`` takes only what it recorded."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from contracts.collections import Charge, DunningStepTaken, GradeOrUnrated, ItemInput, PauseReason, Policy
from libs.events.contracts import Money, built, to_minor_unit
from services.collections.domain.items import ZERO, OpenItem, Pause, pause_on, paused_days
from services.collections.domain.policy import level_of, strategy_for


@dataclass(frozen=True, slots=True)
class Standing:
    """What scoring says of the customer that dunning heeds."""

    grade: GradeOrUnrated = "unrated"
    on_hold: bool = False


def assess(
    items: Sequence[OpenItem],
    levels: Mapping[str, int],
    charged_through: Mapping[str, date],
    pauses: Sequence[Pause],
    day: date,
) -> list[ItemInput]:
    """Each open item with its clocks on ``day``: aging's days past due, the dunning clock's days
    (less the paused days), whether it is paused now and why, its level so far."""
    assessed = []
    for clock in clocks(items, pauses, day):
        item = clock.item
        level = levels.get(item.invoice_id)
        # Built without validation: every value is computed here, of the types the model declares.
        assessed.append(
            built(
                ItemInput,
                {
                    "invoice_id": item.invoice_id,
                    "number": item.number,
                    "currency": item.currency,
                    "open": item.open,
                    "overdue": clock.overdue,
                    "due_date": clock.due,
                    "days_past_due": clock.days_past_due,
                    "dunning_days": clock.dunning_days,
                    "level_before": level,
                    "level_after": level,
                    "paused": clock.paused,
                    "charged_through": charged_through.get(item.invoice_id),
                },
            )
        )
    return assessed


@dataclass(frozen=True, slots=True)
class Clock:
    """An open item's clocks on a day."""

    item: OpenItem
    due: date
    overdue: Decimal
    days_past_due: int
    dunning_days: int
    paused: PauseReason | None


def clocks(items: Sequence[OpenItem], pauses: Sequence[Pause], day: date) -> list[Clock]:
    """The open items' clocks on ``day``, earliest due first."""
    found = []
    for item in items:
        if item.open <= 0:
            continue
        due, overdue = item.clocks(day)
        days = (day - due).days
        paused = paused_days(pauses, item.invoice_id, due, day) if days > 0 and pauses else 0
        reason = pause_on(pauses, item.invoice_id, day) if pauses else None
        found.append(Clock(item, due, overdue, days, days - paused, reason))
    found.sort(key=lambda c: (c.due, c.item.number, c.item.invoice_id))
    return found


def rises(steps: Sequence[tuple[int, int]], level: int | None, dunning_days: int, paused: bool) -> int | None:
    """The level an item rises to today, or None when it stays where it is."""
    target = None if paused else _reached(steps, dunning_days)
    return target if target is not None and (level is None or target > level) else None


def target_level(policy: Policy, grade: GradeOrUnrated, on_hold: bool, days: int) -> int | None:
    """The highest level the grade's strategy reaches at ``days`` on the dunning clock; a customer on
    hold skips the gentle levels."""
    return _reached(strategy_steps(policy, grade, on_hold), days)


def strategy_steps(policy: Policy, grade: GradeOrUnrated, on_hold: bool) -> list[tuple[int, int]]:
    """(days, level) of the steps the customer's strategy takes."""
    gentle = {level.level for level in policy.levels if level.gentle}
    return [(s.days, s.level) for s in strategy_for(policy, grade).steps if not (on_hold and s.level in gentle)]


def _reached(steps: Sequence[tuple[int, int]], days: int) -> int | None:
    """Steps rise (the policy's check), so the last one reached is the highest."""
    found = None
    for at, level in steps:
        if at > days:
            break
        found = level
    return found


def decide(
    policy: Policy,
    version: int,
    items: Sequence[ItemInput],
    standing: Standing,
    last_contact_on: date | None,
    day: date,
    step_id: str,
) -> DunningStepTaken | None:
    """The step of ``day``, or None when nothing goes out.

    An item not paused rises to the highest level its dunning days reach, when that is above its
    level (levels are not sent one by one to catch up). Nothing goes out when no item rises, when
    the items rising are below the policy's minimum amount in every currency, or when the customer
    was contacted fewer than the policy's minimum days ago."""
    decided: list[ItemInput] = []
    steps = strategy_steps(policy, standing.grade, standing.on_hold)
    for item in items:
        target = rises(steps, item.level_before, item.dunning_days, item.paused is not None)
        if target is None and item.level_after == item.level_before:
            decided.append(item)  # as assessed: copying thousands of unchanged items a day shows in the run
        else:
            decided.append(item.model_copy(update={"level_after": item.level_before if target is None else target}))
    raised = [item for item in decided if item.level_after != item.level_before]
    if not raised:
        return None
    rising: dict[str, Decimal] = defaultdict(Decimal)
    for item in raised:
        rising[item.currency] += item.open
    if all(amount < policy.minimum_amount.get(currency, ZERO) for currency, amount in rising.items()):
        return None
    if last_contact_on is not None and (day - last_contact_on).days < policy.minimum_days_between_contacts:
        return None
    level = max(item.level_after for item in raised if item.level_after is not None)
    return DunningStepTaken(
        customer_id="",  # the case's; set by the handler, kept out of the decision
        step_id=step_id,
        business_date=day,
        policy_version=version,
        strategy=strategy_for(policy, standing.grade).name,
        grade=standing.grade,
        on_hold=standing.on_hold,
        level=level,
        items=tuple(decided),
        last_contact_on=last_contact_on,
        channels=level_of(policy, level).channels,
        charges=charges(policy, level, raised, day),
        proposed=policy.review_before_sending,
    )


def charges(policy: Policy, level: int, raised: Sequence[ItemInput], day: date) -> tuple[Charge, ...]:
    """The notice's fee (its level's, once per currency of the items rising) and late-payment interest:
    simple, actual/365, on each rising item's overdue amount from its due date (or the last notice
    that charged it) to the notice's date; each rounded half-up to the currency's minor unit."""
    found: list[Charge] = []
    name = level_of(policy, level).name
    fees = level_of(policy, level).fee
    for currency in sorted({item.currency for item in raised}):
        if fees.get(currency):
            found.append(Charge(kind="fee", amount=Money(amount=fees[currency], currency=currency), description=name))
        rate = policy.interest_percent_a_year
        if not rate:
            continue
        interest = ZERO
        for item in raised:
            if item.currency != currency or item.overdue <= 0:
                continue
            start = max(item.due_date, item.charged_through or item.due_date)
            interest += item.overdue * rate / 100 * Decimal(max((day - start).days, 0)) / 365
        interest = to_minor_unit(interest, currency)
        if interest > 0:
            found.append(
                Charge(
                    kind="interest",
                    amount=Money(amount=interest, currency=currency),
                    description=f"late-payment interest at {rate}% a year",
                )
            )
    return tuple(found)


def escalation_reason(policy: Policy, items: Sequence[ItemInput], grade: GradeOrUnrated) -> str | None:
    """Why the policy's escalation rule hands the case to legal now, or None: an item not paused that
    has had its strategy's last level is at least the rule's days on the dunning clock, and the
    customer's overdue total reaches the rule's minimum in some currency (any amount where none is set)."""
    rule = policy.escalation
    if rule is None:
        return None
    overdue: dict[str, Decimal] = defaultdict(Decimal)
    late = False
    last = strategy_for(policy, grade).steps[-1].level
    for item in items:
        overdue[item.currency] += item.overdue
        dunned = item.level_before is not None and item.level_before >= last  # its last notice went out
        late = late or (item.paused is None and dunned and item.dunning_days >= rule.days_overdue)
    reached = [c for c, amount in overdue.items() if amount > 0 and amount >= rule.minimum.get(c, ZERO)]
    if not late or not reached:
        return None
    amounts = ", ".join(f"{overdue[c]} {c}" for c in sorted(reached))
    return f"an item {rule.days_overdue} or more days overdue on the dunning clock, with {amounts} overdue"


def replay(policy: Policy, step: DunningStepTaken) -> DunningStepTaken | None:
    """The step the recorded inputs give again: the same, for every step the service took."""
    inputs = [item.model_copy(update={"level_after": item.level_before}) for item in step.items]
    again = decide(
        policy,
        step.policy_version,
        inputs,
        Standing(step.grade, step.on_hold),
        step.last_contact_on,
        step.business_date,
        step.step_id,
    )
    return again.model_copy(update={"customer_id": step.customer_id}) if again else None
