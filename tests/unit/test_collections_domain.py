"""The collections domain without I/O: the two clocks, the dunning decision and its replay, the policy's
checks, templates in the sandbox, promises and plans valued against cash, and the collector's priority."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest

from contracts.collections import DunningStepTaken, EscalationRule, ItemInput, Level, Policy, PortfolioRule
from services.collections.domain.backtest import (
    Backtest,
    Basis,
    CustomerHistory,
    ItemHistory,
    backtest,
    replay_customer,
)
from services.collections.domain.case import Plan, Promise
from services.collections.domain.dunning import Standing, assess, decide, replay, target_level
from services.collections.domain.items import OpenItem, Pause, dunning_days, pause_on, paused_days
from services.collections.domain.policy import FIRST_POLICY, PolicyInvalid, check
from services.collections.domain.templates import TemplateInvalid, render
from services.collections.domain.valuation import Cash, plan_course, value_promise
from services.collections.domain.worklist import Situation, parts, portfolio_of, priority

D = date.fromisoformat
UNRATED = Standing()


def item(invoice_id: str, total: str, due: str, reduced: str = "0", currency: str = "CNY") -> OpenItem:
    return OpenItem(
        invoice_id, f"INV-{invoice_id}", currency, Decimal(total), Decimal(reduced), ((D(due), Decimal(total)),)
    )


def run(
    items: list[OpenItem],
    day: str,
    levels: dict[str, int] | None = None,
    policy: Policy = FIRST_POLICY,
    standing: Standing = UNRATED,
    last: str | None = None,
    pauses: list[Pause] | None = None,
) -> DunningStepTaken | None:
    assessed = assess(items, levels or {}, {}, pauses or [], D(day))
    return decide(policy, 1, assessed, standing, D(last) if last else None, D(day), f"S-{day}")


# -- the two clocks ---------------------------------------------------------------------------------------


def test_paused_days_count_each_day_once_and_only_after_due() -> None:
    pauses = [
        Pause("disputed", D("2026-04-05"), D("2026-04-15"), "A"),
        Pause("promise", D("2026-04-10"), D("2026-04-20"), None),  # overlaps five days of the dispute
        Pause("blocked", D("2026-03-01"), D("2026-04-03"), "A"),  # two days after due
        Pause("disputed", D("2026-04-01"), None, "B"),  # another item's
    ]
    assert paused_days(pauses, "A", D("2026-04-01"), D("2026-04-30")) == 2 + 15
    a = item("A", "100.00", "2026-04-01")
    assert dunning_days(pauses, a, D("2026-04-30")) == 29 - 17
    assert pause_on(pauses, "A", D("2026-04-12")) == "disputed"  # a dispute is named before a promise
    assert pause_on(pauses, "A", D("2026-04-20")) is None  # the end is the first day it runs again


def test_an_items_clock_runs_from_its_earliest_open_instalment() -> None:
    split = OpenItem(
        "A",
        "INV-A",
        "CNY",
        Decimal("300.00"),
        Decimal("150.00"),
        (
            (D("2026-01-31"), Decimal("100.00")),
            (D("2026-02-28"), Decimal("100.00")),
            (D("2026-03-31"), Decimal("100.00")),
        ),
    )
    assert split.due_date() == D("2026-02-28")  # the first is paid, the second half paid
    assert split.overdue(D("2026-03-15")) == Decimal("50.00")
    assert split.open == Decimal("150.00")


# -- the decision ---------------------------------------------------------------------------------------------


def test_items_rise_to_the_highest_level_reached_and_one_notice_lists_them_all() -> None:
    items = [item("A", "5000.00", "2026-03-01"), item("B", "3000.00", "2026-04-20")]
    step = run(items, "2026-04-01")  # A 31 days overdue (tight: level 3 at 30), B 19 days before due
    assert step is not None
    assert step.level == 3
    assert [(i.invoice_id, i.level_before, i.level_after) for i in step.items] == [("A", None, 3), ("B", None, None)]
    assert step.channels == ("email", "letter", "phone")
    assert step.strategy == "tight"


def test_the_grade_chooses_the_strategy_and_a_hold_skips_the_gentle_levels() -> None:
    assert target_level(FIRST_POLICY, "A", False, 7) == 1  # gentle: first notice at 7 days
    assert target_level(FIRST_POLICY, "A", False, 6) == 0
    assert target_level(FIRST_POLICY, "E", False, 1) == 1  # tight: first notice a day after due
    assert target_level(FIRST_POLICY, "A", True, 7) is None  # on hold: reminder and first notice are gentle
    assert target_level(FIRST_POLICY, "A", True, 30) == 2


def test_nothing_goes_out_below_the_minimum_within_the_interval_or_when_nothing_rises() -> None:
    assert run([item("A", "99.99", "2026-03-01")], "2026-04-01") is None  # below 100.00 CNY
    assert run([item("A", "99.99", "2026-03-01", currency="USD")], "2026-04-01") is not None  # 20.00 USD
    assert run([item("A", "500.00", "2026-03-01")], "2026-04-01", last="2026-03-26") is None  # six days ago
    assert run([item("A", "500.00", "2026-03-01")], "2026-04-01", last="2026-03-25") is not None
    assert run([item("A", "500.00", "2026-03-01")], "2026-04-01", levels={"A": 3}) is None


def test_a_paused_item_keeps_its_level_while_the_others_rise() -> None:
    items = [item("A", "500.00", "2026-03-01"), item("B", "500.00", "2026-03-01")]
    pauses = [Pause("disputed", D("2026-03-05"), None, "B")]
    step = run(items, "2026-04-01", levels={"A": 1, "B": 1}, pauses=pauses)
    assert step is not None
    assert {i.invoice_id: (i.level_after, i.paused, i.dunning_days) for i in step.items} == {
        "A": (3, None, 31),
        "B": (1, "disputed", 4),
    }


def test_fees_and_interest_are_computed_on_the_notice() -> None:
    levels = tuple(
        level.model_copy(update={"fee": {"CNY": Decimal("50.00")}}) if level.level == 3 else level
        for level in FIRST_POLICY.levels
    )
    policy = FIRST_POLICY.model_copy(update={"levels": levels, "interest_percent_a_year": Decimal("7.3")})
    step = run([item("A", "10000.00", "2026-03-02")], "2026-04-01", policy=policy)
    assert step is not None
    assert [(c.kind, c.amount.amount) for c in step.charges] == [
        ("fee", Decimal("50.00")),
        ("interest", Decimal("60.00")),  # 10,000.00 x 7.3 % x 30 / 365
    ]


def test_assessed_items_are_the_models_validation_would_make() -> None:
    (assessed,) = assess([item("1", "800.00", "2026-03-01", reduced="100.00")], {"1": 0}, {}, [], D("2026-03-11"))
    validated = ItemInput.model_validate(assessed.model_dump())
    assert assessed == validated
    assert assessed.model_dump_json() == validated.model_dump_json()
    assert assessed.model_fields_set == set(ItemInput.model_fields)  # every field given


def test_every_step_is_decided_again_the_same_from_its_inputs() -> None:
    day = D("2026-01-01")
    levels: dict[str, int] = {}
    last: date | None = None
    items = [item("A", "800.00", "2026-01-20"), item("B", "3000.00", "2026-02-10"), item("C", "120.00", "2026-03-01")]
    pauses = [Pause("promise", D("2026-02-15"), D("2026-02-25"), None)]
    steps = []
    for _ in range(120):
        assessed = assess(items, levels, {}, pauses, day)
        step = decide(FIRST_POLICY, 1, assessed, Standing("C"), last, day, f"S-{day}")
        if step is not None:
            steps.append(step)
            levels = {i.invoice_id: i.level_after for i in step.items if i.level_after is not None}
            last = day
        day += timedelta(days=1)
    assert len(steps) >= 5
    assert max(s.level for s in steps) == 4
    for step in steps:
        assert replay(FIRST_POLICY, step) == step


# -- the policy and its templates ------------------------------------------------------------------------


def test_a_policy_that_does_not_hold_together_is_refused_naming_where() -> None:
    check(FIRST_POLICY)
    no_grade_e = FIRST_POLICY.model_copy(
        update={
            "strategies": (FIRST_POLICY.strategies[0], FIRST_POLICY.strategies[1].model_copy(update={"grades": ("D",)}))
        }
    )
    with pytest.raises(PolicyInvalid, match="grade E must have exactly one strategy"):
        check(no_grade_e)
    missing = FIRST_POLICY.model_copy(
        update={"levels": (*FIRST_POLICY.levels, Level(level=5, name="x", channels=("email",), template="nowhere"))}
    )
    with pytest.raises(PolicyInvalid, match=r"levels\[5\].template"):
        check(missing)
    bad_fee = FIRST_POLICY.model_copy(update={"minimum_amount": {"CNY": Decimal("0.001")}})
    with pytest.raises(PolicyInvalid, match=r"minimum_amount\.CNY"):
        check(bad_fee)


def test_templates_render_in_a_sandbox_and_fail_loudly() -> None:
    assert render("{{ 1234567.5 | amount }}", {}, "t") == "1,234,567.5"
    with pytest.raises(TemplateInvalid, match="no_such"):
        render("{{ no_such }}", {}, "t")
    with pytest.raises(TemplateInvalid):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {}, "t")
    with pytest.raises(TemplateInvalid):
        render("{% for x in items %}", {"items": []}, "t")


# -- promises and plans ---------------------------------------------------------------------------------------


def promise(**kw: object) -> Promise:
    values: dict[str, object] = {
        "promise_id": "P",
        "currency": "CNY",
        "amount": Decimal("1000.00"),
        "due_date": D("2026-05-10"),
        "invoices": (),
        "tolerance_days": 3,
        "made_on": D("2026-05-01"),
    }
    return Promise(**{**values, **kw})  # type: ignore[arg-type]


def received(amount: str, on: str, payment: str = "PAY", reversed_: bool = False) -> Cash:
    return Cash(payment, None, "CNY", Decimal(amount), D(on), reversed_)


def test_a_promise_is_kept_partly_kept_or_broken_and_a_reversal_reopens_it() -> None:
    assert value_promise(promise(), [received("1000.00", "2026-05-12")], D("2026-05-12")) == (
        "kept",
        Decimal("1000.00"),
    )
    assert value_promise(promise(), [received("400.00", "2026-05-12")], D("2026-05-13")) is None  # tolerance
    assert value_promise(promise(), [received("400.00", "2026-05-12")], D("2026-05-14")) == (
        "partially_kept",
        Decimal("400.00"),
    )
    assert value_promise(promise(), [received("900.00", "2026-04-30")], D("2026-05-14")) == ("broken", Decimal(0))
    kept = promise(outcome="kept")
    assert value_promise(kept, [received("1000.00", "2026-05-12", reversed_=True)], D("2026-05-13")) == (
        "reopened",
        Decimal(0),
    )
    named = promise(invoices=("I-1",))
    to_other = [Cash("PAY", "I-2", "CNY", Decimal("1000.00"), D("2026-05-05"))]
    assert value_promise(named, to_other, D("2026-05-14")) == ("broken", Decimal(0))


def test_a_plan_misses_is_cured_completes_and_defaults() -> None:
    plan = Plan(
        "PL",
        "CNY",
        ("I-1",),
        (
            (D("2026-05-10"), Decimal("300.00")),
            (D("2026-06-10"), Decimal("300.00")),
            (D("2026-07-10"), Decimal("300.00")),
        ),
        D("2026-05-01"),
    )
    paid = [Cash("P1", "I-1", "CNY", Decimal("300.00"), D("2026-05-20"))]
    assert plan_course(plan, [], D("2026-05-15"), 5, 2) == []  # within its grace days
    assert plan_course(plan, [], D("2026-05-16"), 5, 2) == [("instalment_missed", 1, Decimal(0), Decimal("300.00"))]
    in_arrears = Plan(plan.plan_id, plan.currency, plan.invoices, plan.instalments, plan.agreed_on, (1,), True)
    assert plan_course(in_arrears, paid, D("2026-05-21"), 5, 2) == [
        ("cured", None, Decimal("300.00"), Decimal("300.00"))
    ]
    assert plan_course(in_arrears, [], D("2026-06-16"), 5, 2) == [
        ("instalment_missed", 2, Decimal(0), Decimal("600.00")),
        ("defaulted", 2, Decimal(0), Decimal("600.00")),
    ]
    full = [Cash("P1", "I-1", "CNY", Decimal("900.00"), D("2026-05-09"))]
    assert plan_course(plan, full, D("2026-05-09"), 5, 2) == [("completed", None, Decimal("900.00"), Decimal("900.00"))]


# -- the worklist ---------------------------------------------------------------------------------------------


def test_the_priority_is_the_sum_of_its_named_parts() -> None:
    found = parts(Situation(Decimal("99000"), 45, "D", 1, Decimal("1.05"), D("2026-04-20"), 20), D("2026-05-01"))
    assert found == {
        "amount": Decimal("20.00"),  # 10 x log10(1 + 99)
        "age": Decimal("12.50"),
        "grade": Decimal("10.00"),
        "promises": Decimal("10.00"),
        "limit_use": Decimal("10.00"),
        "contact": Decimal("3.67"),
        "lateness": Decimal("6.67"),  # 20 days late predicted, ÷ 3
    }
    assert priority(found) == Decimal("72.84")
    never = parts(Situation(Decimal(0), 400, "unrated", 5, None, None), D("2026-05-01"))
    assert never["age"] == Decimal("25.00")
    assert never["promises"] == Decimal("20.00")
    assert never["contact"] == Decimal("10.00")
    assert never["lateness"] == Decimal("0.00")  # no prediction yet
    assert parts(Situation(Decimal(0), 1, "A", 0, None, None, 45), D("2026-05-01"))["lateness"] == Decimal("10.00")


def test_the_first_portfolio_rule_the_customer_meets_assigns_it() -> None:
    rules = (
        PortfolioRule(collector="wang", minimum_overdue={"CNY": Decimal("100000.00")}),
        PortfolioRule(collector="zhao", minimum_open={"CNY": Decimal("500000.00"), "USD": Decimal("70000.00")}),
        PortfolioRule(collector="mei", grades=("D", "E"), countries=("CN",)),
        PortfolioRule(collector="li"),
    )
    big = {"CNY": Decimal("150000.00")}
    small = {"CNY": Decimal("900.00"), "USD": Decimal("200000.00")}
    nothing: dict[str, Decimal] = {}
    assert portfolio_of(rules, "A", "CN", big, big) == (1, rules[0])
    assert portfolio_of(rules, "A", "CN", small, {"USD": Decimal("70000.00")}) == (2, rules[1])  # a large account
    assert portfolio_of(rules, "D", "CN", small, {"USD": Decimal("69999.99")}) == (3, rules[2])
    assert portfolio_of(rules, "D", "SG", small, nothing) == (4, rules[3])
    assert portfolio_of(rules[:3], "A", "CN", small, nothing) is None


# -- the policy backtest ------------------------------------------------------------------------------------


def history(
    *,
    standings: tuple[tuple[date, Standing], ...] = (),
    pauses: tuple[Pause, ...] = (),
    contacts: tuple[date, ...] = (),
    paid_on: str | None = "2026-04-10",
    paid_from: str | None = None,
) -> CustomerHistory:
    """INV-1: 10,000.00 dated and recorded on 03-01, due 03-31, paid in full as recorded on
    ``paid_on`` (counting from ``paid_from``, the same day unless given)."""
    reductions = ((D(paid_on), D(paid_from or paid_on), Decimal("10000.00")),) if paid_on else ()
    invoice = ItemHistory(
        "D-1",
        "INV-1",
        "CNY",
        Decimal("10000.00"),
        D("2026-03-01"),
        D("2026-03-01"),
        ((D("2026-03-31"), Decimal("10000.00")),),
        reductions,
    )
    return CustomerHistory("C-1", [invoice], pauses, contacts, standings)


def sent(found: Backtest) -> list[tuple[str, int]]:
    return [(step.day.isoformat(), step.level) for step in found.steps]


def test_the_backtest_runs_each_day_on_what_was_recorded_before_it() -> None:
    # Unrated, the tight strategy: the reminder 5 days before due (03-26); level 1 a day after due
    # (04-01), held to 04-02 by the 7 days between contacts; the payment recorded on 04-10 ends it.
    heard: list[tuple[int, int]] = []
    found = backtest(FIRST_POLICY, [history()], D("2026-03-01"), D("2026-05-31"), progress=lambda *p: heard.append(p))
    assert sent(found) == [("2026-03-26", 0), ("2026-04-02", 1)]
    assert heard == [(1, 1)]
    assert found.per_day() == {D("2026-03-26"): {0: 1}, D("2026-04-02"): {1: 1}}
    # Unpaid, level 2 at 15 dunning days (04-15), level 3 at 30 (04-30), level 4 at 60 (05-30).
    unpaid = backtest(FIRST_POLICY, [history(paid_on=None)], D("2026-04-01"), D("2026-05-31"))
    assert sent(unpaid) == [("2026-04-02", 1), ("2026-04-15", 2), ("2026-04-30", 3), ("2026-05-30", 4)]
    # Only what falls within the period is reported, though the days before it are run.
    assert sent(backtest(FIRST_POLICY, [history()], D("2026-03-27"), D("2026-05-31"))) == [("2026-04-02", 1)]


def test_the_backtest_heeds_the_grade_pauses_and_contacts_as_they_were_then() -> None:
    # Graded A on 03-10 (known from 03-11 on): the gentle strategy, reminder 3 days before due.
    graded = history(standings=((D("2026-03-10"), Standing("A")),))
    assert sent(backtest(FIRST_POLICY, [graded], D("2026-03-01"), D("2026-04-09"))) == [
        ("2026-03-28", 0),
        ("2026-04-07", 1),
    ]
    # A promise from 04-01 (begun after that day's run) to 04-05 pauses INV-1 four days: level 1
    # waits, and the payment never comes, so level 2 is reached at 15 dunning days on 04-19.
    promised = history(pauses=(Pause("promise", D("2026-04-01"), D("2026-04-05")),), paid_on=None)
    assert sent(backtest(FIRST_POLICY, [promised], D("2026-03-01"), D("2026-04-20"))) == [
        ("2026-03-26", 0),
        ("2026-04-05", 1),
        ("2026-04-19", 2),
    ]
    # A call logged on 03-31 counts from the run of 04-01: level 1 waits 7 days, to 04-07.
    called = history(contacts=(D("2026-03-31"),))
    assert sent(backtest(FIRST_POLICY, [called], D("2026-03-01"), D("2026-04-09"))) == [
        ("2026-03-26", 0),
        ("2026-04-07", 1),
    ]


def test_the_backtest_reports_the_escalations_a_policy_would_have_made_and_its_charges() -> None:
    quick = FIRST_POLICY.model_copy(
        update={
            "escalation": EscalationRule(to="legal", days_overdue=65, minimum={"CNY": Decimal("5000.00")}),
            "interest_percent_a_year": Decimal("12"),
        }
    )
    found = backtest(quick, [history(paid_on=None)], D("2026-03-01"), D("2026-06-30"))
    assert sent(found)[-1] == ("2026-05-30", 4)
    (escalation,) = found.escalations
    assert (escalation.customer_id, escalation.day) == ("C-1", D("2026-06-04"))  # 65 dunning days
    assert "65 or more days overdue" in escalation.reason
    # Interest: 10,000.00 x 12% x days since the last charge / 365 at each of levels 1 to 4:
    # 2 days -> 6.58, 13 -> 42.74, 15 -> 49.32, 30 -> 98.63.
    assert found.charged() == {"CNY": Decimal("197.27")}


def test_on_the_entry_basis_a_late_posted_payment_counts_from_its_own_date() -> None:
    # Paid on 04-01 but recorded on 04-05: the real run of 04-02 did not know it and sent level 1;
    # replayed by the documents' own dates, nothing goes out after the reminder.
    late = history(paid_on="2026-04-05", paid_from="2026-04-01")
    assert sent(backtest(FIRST_POLICY, [late], D("2026-03-01"), D("2026-04-30"))) == [
        ("2026-03-26", 0),
        ("2026-04-02", 1),
    ]
    assert sent(backtest(FIRST_POLICY, [late], D("2026-03-01"), D("2026-04-30"), "entry")) == [("2026-03-26", 0)]
    # A grade learnt of on 04-20 holds, on the entry basis, for the days before it too.
    graded = history(standings=((D("2026-04-20"), Standing("A")),))
    assert sent(backtest(FIRST_POLICY, [graded], D("2026-03-01"), D("2026-04-09")))[0] == ("2026-03-26", 0)
    assert sent(backtest(FIRST_POLICY, [graded], D("2026-03-01"), D("2026-04-09"), "entry"))[0] == ("2026-03-28", 0)


def random_history(rng: random.Random, n: int) -> CustomerHistory:
    """A customer with a few invoices, payments recorded late or early, pauses, calls and grades."""
    start = D("2026-01-01")

    def on(lo: int, hi: int) -> date:
        return start + timedelta(days=rng.randint(lo, hi))

    items = []
    for i in range(rng.randint(1, 6)):
        issued = on(0, 60)
        total = Decimal(rng.choice(["80.00", "500.00", "12000.00"]))
        schedule = ((issued + timedelta(days=rng.choice([0, 10, 30])), total),)
        reductions = tuple(
            (paid + timedelta(days=rng.randint(0, 5)), paid, total / parts)
            for parts in [rng.choice([1, 2])]
            for paid in sorted(on(0, 150) for _ in range(rng.randint(0, parts)))
        )
        items.append(ItemHistory(f"D-{i}", f"INV-{i}", "CNY", total, issued + timedelta(days=rng.randint(0, 3)),
                                 issued, schedule, reductions))  # fmt: skip
    pauses = [
        Pause(rng.choice(["disputed", "promise", "plan", "blocked"]), begun, begun + timedelta(days=rng.randint(1, 20)))
        for begun in (on(20, 140) for _ in range(rng.randint(0, 2)))
    ]
    contacts = sorted(on(20, 150) for _ in range(rng.randint(0, 3)))
    grades = [
        (since, Standing(rng.choice(["A", "C", "E"]), rng.random() < 0.3)) for since in sorted({on(0, 150), on(0, 150)})
    ]
    return CustomerHistory(f"C-{n}", items, pauses, contacts, grades)


@pytest.mark.parametrize("basis", ["recorded", "entry"])
def test_running_only_the_days_that_can_differ_gives_what_running_every_day_gives(basis: Basis) -> None:
    rng = random.Random(14)
    quick = FIRST_POLICY.model_copy(
        update={"escalation": EscalationRule(to="legal", days_overdue=70, minimum={}), "interest_percent_a_year": 8}
    )
    seen: Counter[str] = Counter()
    for n in range(120):
        customer = random_history(rng, n)
        for policy in (FIRST_POLICY, quick):
            skipping, daily = Backtest(), Backtest()
            replay_customer(policy, customer, D("2026-02-01"), D("2026-07-31"), basis, skipping)
            replay_customer(policy, customer, D("2026-02-01"), D("2026-07-31"), basis, daily, every_day=True)
            assert (skipping.steps, skipping.escalations) == (daily.steps, daily.escalations), customer
            seen.update(steps=len(daily.steps), escalations=len(daily.escalations))
            seen.update(f"level {step.level}" for step in daily.steps)
    # The histories reach every level and the escalation rule, so the comparison covers them.
    assert all(seen[f"level {level}"] > 0 for level in range(5)), seen
    assert seen["escalations"] > 10, seen
