"""The collections domain without I/O: the two clocks, the dunning decision and its replay, the policy's
checks, templates in the sandbox, promises and plans valued against cash, and the collector's priority."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from contracts.collections import DunningStepTaken, Level, Policy, PortfolioRule
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
    found = parts(Situation(Decimal("99000"), 45, "D", 1, Decimal("1.05"), D("2026-04-20")), D("2026-05-01"))
    assert found == {
        "amount": Decimal("20.00"),  # 10 x log10(1 + 99)
        "age": Decimal("12.50"),
        "grade": Decimal("10.00"),
        "promises": Decimal("10.00"),
        "limit_use": Decimal("10.00"),
        "contact": Decimal("3.67"),
    }
    assert priority(found) == Decimal("66.17")
    never = parts(Situation(Decimal(0), 400, "unrated", 5, None, None), D("2026-05-01"))
    assert never["age"] == Decimal("25.00")
    assert never["promises"] == Decimal("20.00")
    assert never["contact"] == Decimal("10.00")


def test_the_first_portfolio_rule_the_customer_meets_assigns_it() -> None:
    rules = (
        PortfolioRule(collector="wang", minimum_overdue={"CNY": Decimal("100000.00")}),
        PortfolioRule(collector="mei", grades=("D", "E"), countries=("CN",)),
        PortfolioRule(collector="li"),
    )
    big = {"CNY": Decimal("150000.00")}
    small = {"CNY": Decimal("900.00"), "USD": Decimal("200000.00")}
    assert portfolio_of(rules, "A", "CN", big) == (1, rules[0])
    assert portfolio_of(rules, "D", "CN", small) == (2, rules[1])
    assert portfolio_of(rules, "D", "SG", small) == (3, rules[2])
    assert portfolio_of(rules[:2], "A", "CN", small) is None
