"""Read side of collections: the facts use cases work on, and the views the API answers with."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import Field

from contracts.collections import DunningStepTaken, GradeOrUnrated, ItemInput, Policy
from libs.events.database import Connection
from libs.service.views import Amount, MoneyView, View
from services.collections.domain.backtest import CustomerHistory, ItemHistory, WouldSend
from services.collections.domain.case import CollectionCase
from services.collections.domain.dunning import Standing, assess
from services.collections.domain.items import OpenItem, Pause
from services.collections.domain.valuation import Cash
from services.collections.domain.worklist import Situation, parts, priority
from services.collections.handlers import CustomerFacts, WhatIf

# -- facts -----------------------------------------------------------------------------------------


class ReadModelFacts:
    async def of(self, conn: Connection, customer_ids: Sequence[str]) -> dict[str, CustomerFacts]:
        ids = list(customer_ids)
        countries = {
            r["customer_id"]: r["country"]
            for r in await conn.fetch(
                "SELECT customer_id, country FROM customers WHERE customer_id = ANY($1::text[])", ids
            )
        }
        known = list(countries)
        items: dict[str, list[OpenItem]] = defaultdict(list)
        for r in await conn.fetch(
            "SELECT customer_id, invoice_id, number, currency, total, reduced, schedule FROM items"
            " WHERE customer_id = ANY($1::text[]) AND total > reduced",
            known,
        ):
            schedule = tuple((date.fromisoformat(d), Decimal(a)) for d, a in json.loads(r["schedule"]))
            items[r["customer_id"]].append(
                OpenItem(r["invoice_id"], r["number"], r["currency"], r["total"], r["reduced"], schedule)
            )
        disputes: dict[str, list[Pause]] = defaultdict(list)
        for r in await conn.fetch(
            "SELECT customer_id, invoice_id, opened_on, resolved_on FROM disputes WHERE customer_id = ANY($1::text[])",
            known,
        ):
            disputes[r["customer_id"]].append(Pause("disputed", r["opened_on"], r["resolved_on"], r["invoice_id"]))
        standing = {
            r["customer_id"]: Standing(r["grade"] or "unrated", bool(r["holds"]))
            for r in await conn.fetch(
                "SELECT customer_id, grade, holds FROM standing WHERE customer_id = ANY($1::text[])", known
            )
        }
        cash: dict[str, list[Cash]] = defaultdict(list)
        for r in await conn.fetch(
            "SELECT customer_id, payment_id, invoice_id, currency, amount, on_date, reversed FROM cash"
            " WHERE customer_id = ANY($1::text[])",
            known,
        ):
            cash[r["customer_id"]].append(
                Cash(r["payment_id"], r["invoice_id"], r["currency"], r["amount"], r["on_date"], r["reversed"])
            )
        return {
            c: CustomerFacts(
                c, items.get(c, []), disputes.get(c, []), standing.get(c, Standing()), cash.get(c, []), countries[c]
            )
            for c in known
        }

    async def history_of(self, conn: Connection, customer_ids: Sequence[str] | None) -> dict[str, CustomerHistory]:
        """Each customer's recorded history (all customers with an invoice when ``customer_ids`` is
        None): invoices with their dated reductions, disputes, and standings; the case adds the rest."""
        where = "true" if customer_ids is None else "customer_id = ANY($1::text[])"
        args = [] if customer_ids is None else [list(customer_ids)]
        reductions: dict[tuple[str, str], list[tuple[date, date, Decimal]]] = defaultdict(list)
        for r in await conn.fetch(f"SELECT * FROM reductions WHERE {where} ORDER BY recorded_on, entry_date", *args):
            reductions[r["customer_id"], r["invoice_id"]].append((r["recorded_on"], r["entry_date"], r["amount"]))
        items: dict[str, list[ItemHistory]] = defaultdict(list)
        for r in await conn.fetch(
            f"SELECT * FROM items WHERE {where} AND issued_total IS NOT NULL ORDER BY customer_id, invoice_id", *args
        ):
            schedule = tuple((date.fromisoformat(d), Decimal(a)) for d, a in json.loads(r["schedule"]))
            key = (r["customer_id"], r["invoice_id"])
            items[r["customer_id"]].append(
                ItemHistory(
                    r["invoice_id"],
                    r["number"],
                    r["currency"],
                    r["issued_total"],
                    r["recorded_on"],
                    r["issue_date"],
                    schedule,
                    tuple(reductions.get(key, ())),
                )
            )
        disputes: dict[str, list[Pause]] = defaultdict(list)
        for r in await conn.fetch(f"SELECT * FROM disputes WHERE {where}", *args):
            disputes[r["customer_id"]].append(Pause("disputed", r["opened_on"], r["resolved_on"], r["invoice_id"]))
        standings: dict[str, list[tuple[date, Standing]]] = defaultdict(list)
        for r in await conn.fetch(f"SELECT * FROM standing_history WHERE {where} ORDER BY since", *args):
            standings[r["customer_id"]].append((r["since"], Standing(r["grade"] or "unrated", r["on_hold"])))
        return {
            c: CustomerHistory(c, found, disputes.get(c, []), (), standings.get(c, []))
            for c, found in sorted(items.items())
        }


async def recorded_steps(
    conn: Connection, start: date, end: date, customer_ids: Sequence[str] | None
) -> dict[date, dict[int, int]]:
    """The notices actually sent, per day and level (steps taken, or approved on review)."""
    found: dict[date, dict[int, int]] = defaultdict(dict)
    for r in await conn.fetch(
        "SELECT business_date, level, count(*) AS n FROM steps WHERE status IN ('taken', 'approved')"
        " AND business_date BETWEEN $1 AND $2 AND ($3::text[] IS NULL OR customer_id = ANY($3::text[]))"
        " GROUP BY 1, 2 ORDER BY 1, 2",
        start,
        end,
        customer_ids,
    ):
        found[r["business_date"]][r["level"]] = r["n"]
    return dict(found)


async def _open_items(conn: Connection, customer_ids: Sequence[str], day: date) -> dict[str, list[OpenItem]]:
    """The items of these customers with something open that had fallen due before ``day``."""
    found: dict[str, list[OpenItem]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT customer_id, currency, total, reduced, schedule FROM items"
        " WHERE customer_id = ANY($1::text[]) AND total > reduced AND first_due < $2",
        customer_ids,
        day,
    ):
        schedule = tuple((date.fromisoformat(d), Decimal(a)) for d, a in json.loads(r["schedule"]))
        found[r["customer_id"]].append(OpenItem("", "", r["currency"], r["total"], r["reduced"], schedule))
    return found


async def customers_to_dun(conn: Connection) -> list[str]:
    """Customers with an open item, or a promise or plan still to value."""
    rows = await conn.fetch(
        "SELECT customer_id FROM items WHERE total > reduced"
        " UNION SELECT customer_id FROM promises WHERE outcome IN ('open', 'reopened', 'kept')"
        " UNION SELECT customer_id FROM plans WHERE status = 'active' ORDER BY 1"
    )
    return [r["customer_id"] for r in rows]


# -- views ------------------------------------------------------------------------------------------


class PolicyView(View):
    version: int
    released_by: str
    reason: str
    released_on: date | None
    policy: Policy


async def policy(conn: Connection, version: int | None, current: int, shipped: Policy) -> PolicyView | None:
    wanted = version or current
    if wanted == 1:
        return PolicyView(
            version=1, released_by="credo", reason="the policy Credo ships with", released_on=None, policy=shipped
        )
    row = await conn.fetchrow("SELECT * FROM policies WHERE version = $1", wanted)
    if row is None:
        return None
    return PolicyView(
        version=row["version"],
        released_by=row["released_by"],
        reason=row["reason"],
        released_on=row["released_on"],
        policy=Policy.model_validate_json(row["policy"]),
    )


class ItemView(View):
    invoice_id: str
    number: str
    open: MoneyView
    overdue: MoneyView
    due_date: date
    days_past_due: int
    dunning_days: int
    level: int | None
    paused: str | None


class PromiseView(View):
    promise_id: str
    amount: MoneyView
    due_date: date
    deadline: date
    invoices: list[str]
    made_on: date
    outcome: str


class PlanView(View):
    plan_id: str
    invoices: list[str]
    instalments: list[tuple[date, MoneyView]]
    agreed_on: date
    missed: list[int]
    in_arrears: bool
    status: str


class BlockView(View):
    block_id: str
    invoice_id: str | None
    reason: str
    start: date
    until: date
    lifted_on: date | None


class NoticeView(View):
    notice_id: str
    step_id: str
    channel: str
    status: str
    business_date: date
    attempts: int
    address: str | None
    message_id: str | None
    error: str | None


class ContactView(View):
    contact_id: str
    channel: str
    outcome: str
    note: str | None
    by: str
    contacted_on: date


class TaskView(View):
    task_id: str
    kind: str
    reason: str
    created_on: date
    done_on: date | None


class StepView(View):
    step_id: str
    business_date: date
    level: int
    status: str
    policy_version: int
    strategy: str
    channels: list[str]
    items: list[ItemInput]
    charges: list[dict[str, Any]]


class CaseView(View):
    customer_id: str
    legal_name: str
    version: int
    collector: str | None
    status: str  # dunning, escalated
    escalation: dict[str, Any] | None
    last_contact_on: date | None
    broken_promises: int
    items: list[ItemView]
    contacts: list[ContactView]  # the latest day first; on one day, the latest logged first
    promises: list[PromiseView]
    plans: list[PlanView]
    blocks: list[BlockView]
    notices: list[NoticeView]
    tasks: list[TaskView]
    steps: list[StepView]


def step_view(step: DunningStepTaken, status: str) -> StepView:
    return StepView(
        step_id=step.step_id,
        business_date=step.business_date,
        level=step.level,
        status=status,
        policy_version=step.policy_version,
        strategy=step.strategy,
        channels=list(step.channels),
        items=list(step.items),
        charges=[
            {
                "kind": c.kind,
                "amount": MoneyView.of(c.amount.amount, c.amount.currency).model_dump(),
                "description": c.description,
            }
            for c in step.charges
        ],
    )


async def case_view(conn: Connection, case: CollectionCase, version: int, facts: CustomerFacts, day: date) -> CaseView:
    name = await conn.fetchval("SELECT legal_name FROM customers WHERE customer_id = $1", case.customer_id)
    pauses = [*facts.disputes, *case.pauses()]
    items = assess(facts.items, case.levels, case.charged_through, pauses, day)
    notices = await conn.fetch(
        "SELECT * FROM notices WHERE customer_id = $1 ORDER BY business_date, notice_id", case.customer_id
    )
    tasks = await conn.fetch(
        "SELECT * FROM tasks WHERE customer_id = $1 ORDER BY created_on, task_id", case.customer_id
    )
    steps = await conn.fetch(
        "SELECT status, event FROM steps WHERE customer_id = $1 ORDER BY business_date", case.customer_id
    )
    escalation = case.escalation
    return CaseView(
        customer_id=case.customer_id,
        legal_name=name or case.customer_id,
        version=version,
        collector=case.collector,
        status="escalated" if case.escalated else "dunning",
        escalation=None
        if escalation is None
        else {
            "escalation_id": escalation.escalation_id,
            "to": escalation.to,
            "escalated_on": escalation.escalated_on.isoformat(),
            "result": escalation.result,
        },
        last_contact_on=case.last_contact_on,
        broken_promises=case.broken_promises,
        items=[
            ItemView(
                invoice_id=i.invoice_id,
                number=i.number,
                open=MoneyView.of(i.open, i.currency),
                overdue=MoneyView.of(i.overdue, i.currency),
                due_date=i.due_date,
                days_past_due=i.days_past_due,
                dunning_days=i.dunning_days,
                level=i.level_before,
                paused=i.paused,
            )
            for i in items
        ],
        contacts=[
            ContactView.model_validate(c, from_attributes=True)
            for c in sorted(reversed(case.contact_log), key=lambda c: c.contacted_on, reverse=True)
        ],
        promises=[
            PromiseView(
                promise_id=p.promise_id,
                amount=MoneyView.of(p.amount, p.currency),
                due_date=p.due_date,
                deadline=p.deadline,
                invoices=list(p.invoices),
                made_on=p.made_on,
                outcome=p.outcome,
            )
            for p in case.promises.values()
        ],
        plans=[
            PlanView(
                plan_id=p.plan_id,
                invoices=list(p.invoices),
                instalments=[(d, MoneyView.of(a, p.currency)) for d, a in p.instalments],
                agreed_on=p.agreed_on,
                missed=list(p.missed),
                in_arrears=p.in_arrears,
                status=p.ended or "active",
            )
            for p in case.plans.values()
        ],
        blocks=[
            BlockView(
                block_id=b.block_id,
                invoice_id=b.invoice_id,
                reason=b.reason,
                start=b.start,
                until=b.until,
                lifted_on=b.ended_on,
            )
            for b in case.blocks.values()
        ],
        notices=[
            NoticeView(
                notice_id=n["notice_id"],
                step_id=n["step_id"],
                channel=n["channel"],
                status=n["status"],
                business_date=n["business_date"],
                attempts=n["attempts"],
                address=n["address"],
                message_id=n["message_id"],
                error=n["error"],
            )
            for n in notices
        ],
        tasks=[
            TaskView(
                task_id=t["task_id"],
                kind=t["kind"],
                reason=t["reason"],
                created_on=t["created_on"],
                done_on=t["done_on"],
            )
            for t in tasks
        ],
        steps=[step_view(DunningStepTaken.model_validate_json(s["event"]), s["status"]) for s in steps],
    )


class WorklistRow(View):
    rank: int
    customer_id: str
    legal_name: str
    collector: str | None
    as_of: date  # the business date the priority was computed for
    priority: Amount
    parts: dict[str, Amount]
    overdue: list[MoneyView]
    overdue_in_base: MoneyView
    oldest_days_past_due: int
    grade: GradeOrUnrated
    level: int | None
    last_contact_on: date | None
    open_tasks: int
    next_action: str


async def refresh_worklist(
    conn: Connection,
    customer_ids: Sequence[str],
    day: date,
    base_currency: str,
    items: Mapping[str, Sequence[OpenItem]] | None = None,
) -> None:
    """Place these customers on the worklist as of ``day`` (or take them off it: nothing overdue), from
    their open items (read here unless the caller has them)."""
    ids = sorted(set(customer_ids))
    if items is None:
        items = await _open_items(conn, ids, day)
    rates = {
        r["currency"]: r["rate"]
        for r in await conn.fetch(
            "SELECT DISTINCT ON (currency) currency, rate FROM fx_rates WHERE rate_date <= $1"
            " ORDER BY currency, rate_date DESC",
            day,
        )
    }
    rates[base_currency] = Decimal(1)
    overdue: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    oldest: dict[str, int] = defaultdict(int)
    for customer_id, open_items in items.items():
        for item in open_items:
            due, amount = item.clocks(day)
            if amount > 0:
                overdue[customer_id][item.currency] += amount
                oldest[customer_id] = max(oldest[customer_id], (day - due).days)
    await conn.execute("DELETE FROM worklist WHERE customer_id = ANY($1::text[])", ids)
    if not overdue:
        return
    standing = await conn.fetch(
        "SELECT c.customer_id, k.last_contact_on, coalesce(k.broken_promises, 0) AS broken_promises, s.grade,"
        " s.expected_days_late,"
        " s.limit_amount, (SELECT sum(total - reduced) FROM items i WHERE i.customer_id = c.customer_id"
        "    AND i.currency = s.limit_currency) AS exposure"
        " FROM unnest($1::text[]) AS c(customer_id)"
        " LEFT JOIN cases k ON k.customer_id = c.customer_id LEFT JOIN standing s ON s.customer_id = c.customer_id",
        list(overdue),
    )
    placed = []
    for row in standing:
        customer_id = row["customer_id"]
        amounts = overdue[customer_id]
        in_base = sum((a * rates[c] for c, a in amounts.items() if c in rates), Decimal(0))
        limit, exposure = row["limit_amount"], row["exposure"]
        situation = Situation(
            in_base,
            oldest[customer_id],
            row["grade"] or "unrated",
            row["broken_promises"],
            exposure / limit if limit and exposure is not None else None,
            row["last_contact_on"],
            row["expected_days_late"],
        )
        found = parts(situation, day)
        placed.append(
            (
                customer_id,
                day,
                priority(found),
                json.dumps({k: str(v) for k, v in found.items()}),
                json.dumps([(c, str(a)) for c, a in sorted(amounts.items())]),
                in_base,
                situation.oldest_days_past_due,
                situation.grade,
                situation.broken_promises,
            )
        )
    await conn.executemany(
        "INSERT INTO worklist VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9) ON CONFLICT (customer_id)"
        " DO UPDATE SET as_of = $2, priority = $3, parts = $4::jsonb, overdue = $5::jsonb, overdue_in_base = $6,"
        " oldest_days_past_due = $7, grade = $8, broken_promises = $9",
        placed,
    )


async def worklist(conn: Connection, base_currency: str, collector: str | None, limit: int) -> list[WorklistRow]:
    """Customers with overdue items (not with legal), ranked by priority; see domain.worklist."""
    rows = await conn.fetch(
        "SELECT w.*, d.legal_name, k.collector, k.level, k.last_contact_on,"
        " (SELECT count(*) FROM tasks t WHERE t.customer_id = w.customer_id AND t.done_on IS NULL) AS tasks"
        " FROM worklist w JOIN customers d ON d.customer_id = w.customer_id"
        " LEFT JOIN cases k ON k.customer_id = w.customer_id"
        " WHERE NOT coalesce(k.escalated, false) AND ($1::text IS NULL OR k.collector = $1)"
        " ORDER BY w.priority DESC, w.overdue_in_base DESC, w.customer_id LIMIT $2",
        collector,
        limit,
    )
    return [
        WorklistRow(
            rank=n,
            customer_id=row["customer_id"],
            legal_name=row["legal_name"],
            collector=row["collector"],
            as_of=row["as_of"],
            priority=row["priority"],
            parts={k: Decimal(v) for k, v in json.loads(row["parts"]).items()},
            overdue=[MoneyView.of(Decimal(a), c) for c, a in json.loads(row["overdue"])],
            overdue_in_base=MoneyView.of(row["overdue_in_base"], base_currency),
            oldest_days_past_due=row["oldest_days_past_due"],
            grade=row["grade"],
            level=row["level"],
            last_contact_on=row["last_contact_on"],
            open_tasks=row["tasks"],
            next_action=_next_action(row),
        )
        for n, row in enumerate(rows, start=1)
    ]


def _next_action(row: Any) -> str:
    if row["tasks"]:
        return "call: a notice asked for a call"
    if row["broken_promises"]:
        return "call: a promise was broken; agree a plan or escalate"
    if row["level"] is None:
        return "the next dunning run sends the first notice"
    if row["level"] >= 2:
        return "call: the notices have not brought payment"
    return "wait for the next notice, or call if the amount matters"


# -- the policy backtest -----------------------------------------------------------------------------------


class WhatIfDay(View):
    date: date
    proposed: dict[str, int]  # level -> notices the proposed policy would have sent
    recorded: dict[str, int]  # level -> notices actually sent


class WhatIfCustomer(View):
    customer_id: str
    legal_name: str | None
    notices: int
    first: date
    last: date
    highest_level: int


class WhatIfEscalation(View):
    customer_id: str
    legal_name: str | None
    date: date
    reason: str | None = None


class WhatIfView(View):
    from_: date = Field(serialization_alias="from")
    to: date
    customers_considered: int
    notices: dict[str, int]  # "proposed" and "recorded"
    by_level: dict[str, dict[str, int]]  # "proposed" / "recorded" -> level -> notices
    days: list[WhatIfDay]
    customers_contacted: list[WhatIfCustomer]
    escalations: list[WhatIfEscalation]
    recorded_escalations: list[WhatIfEscalation]
    charges: list[MoneyView]


async def legal_names(conn: Connection, customer_ids: Sequence[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT customer_id, legal_name FROM customers WHERE customer_id = ANY($1::text[])", list(customer_ids)
    )
    return {r["customer_id"]: r["legal_name"] for r in rows}


def what_if_view(
    found: WhatIf, recorded: dict[date, dict[int, int]], start: date, end: date, names: dict[str, str]
) -> WhatIfView:
    proposed = found.backtest.per_day()
    by_level: dict[str, dict[str, int]] = {"proposed": defaultdict(int), "recorded": defaultdict(int)}
    for side, per_day in (("proposed", proposed), ("recorded", recorded)):
        for counts in per_day.values():
            for level, n in counts.items():
                by_level[side][str(level)] += n
    contacted: dict[str, list[WouldSend]] = defaultdict(list)
    for step in found.backtest.steps:
        contacted[step.customer_id].append(step)
    return WhatIfView(
        from_=start,
        to=end,
        customers_considered=found.customers,
        notices={side: sum(levels.values()) for side, levels in by_level.items()},
        by_level={side: dict(sorted(levels.items())) for side, levels in by_level.items()},
        days=[
            WhatIfDay(
                date=day,
                proposed={str(k): v for k, v in sorted(proposed.get(day, {}).items())},
                recorded={str(k): v for k, v in sorted(recorded.get(day, {}).items())},
            )
            for day in sorted(proposed.keys() | recorded.keys())
        ],
        customers_contacted=[
            WhatIfCustomer(
                customer_id=c,
                legal_name=names.get(c),
                notices=len(steps),
                first=steps[0].day,
                last=steps[-1].day,
                highest_level=max(s.level for s in steps),
            )
            for c, steps in sorted(contacted.items())
        ],
        escalations=[
            WhatIfEscalation(
                customer_id=e.customer_id, legal_name=names.get(e.customer_id), date=e.day, reason=e.reason
            )
            for e in found.backtest.escalations
        ],
        recorded_escalations=[
            WhatIfEscalation(customer_id=c, legal_name=names.get(c), date=d) for c, d in found.recorded_escalations
        ],
        charges=[MoneyView.of(amount, currency) for currency, amount in found.backtest.charged().items()],
    )
