"""Read side of alerts: the views the API answers with."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, TypeAdapter

from contracts.alerts import Audience, Fact, Rule, Severity
from libs.events.database import Connection
from libs.service.views import View
from services.alerts.domain.backtest import Backtest
from services.alerts.domain.rules import FIRST_RULES

RULES: TypeAdapter[list[Rule]] = TypeAdapter(list[Rule])


class RuleSetView(View):
    version: int
    released_by: str
    reason: str
    released_on: date | None
    rules: list[Rule]


async def rule_set(conn: Connection, version: int) -> RuleSetView | None:
    if version == 1:
        return RuleSetView(
            version=1,
            released_by="credo",
            reason="the rules Credo ships with",
            released_on=None,
            rules=list(FIRST_RULES),
        )
    row = await conn.fetchrow("SELECT * FROM rule_sets WHERE version = $1", version)
    if row is None:
        return None
    return RuleSetView(
        version=row["version"],
        released_by=row["released_by"],
        reason=row["reason"],
        released_on=row["released_on"],
        rules=RULES.validate_json(row["rules"]),
    )


class HistoryLine(View):
    event: str
    by: str | None
    detail: str | None
    at: datetime


class AlertView(View):
    alert_id: str
    customer_id: str
    legal_name: str | None
    rule_id: str
    rule_version: int
    kind: str
    severity: Severity
    status: Literal["raised", "acknowledged", "assigned", "resolved", "suppressed"]
    count: int
    facts: list[Fact]
    raised_on: date
    last_seen_on: date
    acknowledged_by: str | None
    assignee: str | None
    closed_by: str | None
    closed_note: str | None
    notify: str = Field(description="the role the alert is with: its rule's first, then each it escalated to")
    level: int = Field(description="how many times it escalated")
    waiting_since: date | None
    collector: str | None = Field(description="the customer's collector, whose portfolio it is in")
    history: list[HistoryLine] | None = None


def _alert(row: Any, history: list[HistoryLine] | None = None) -> AlertView:
    values = dict(row)
    closed = values.pop("closed")
    status = closed or ("assigned" if row["assignee"] else "acknowledged" if row["acknowledged_by"] else "raised")
    facts = [Fact(**f) for f in json.loads(values.pop("facts"))]
    return AlertView(**values, status=status, facts=facts, history=history)


_SELECT = (
    "SELECT a.*, c.legal_name, p.collector FROM alerts a LEFT JOIN customers c ON c.customer_id = a.customer_id"
    " LEFT JOIN portfolios p ON p.customer_id = a.customer_id"
)
# The alerts a caller limited to a portfolio sees: its customers', and those assigned to the caller
# (``$n`` the collector, or NULL: all).
IN_PORTFOLIO = "($%d::text IS NULL OR p.collector = $%d OR a.assignee = $%d)"
SEVERITY_ORDER = "CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END"


async def alerts(
    conn: Connection,
    status: Literal["open", "closed", "all"],
    customer_id: str | None,
    severity: Severity | None,
    limit: int,
    offset: int,
    portfolio: str | None = None,
) -> list[AlertView]:
    """Most severe first, then the most recently seen."""
    where = {"open": "a.closed IS NULL", "closed": "a.closed IS NOT NULL", "all": "true"}[status]
    rows = await conn.fetch(
        f"{_SELECT} WHERE {where} AND ($1::text IS NULL OR a.customer_id = $1) AND ($2::text IS NULL OR"
        f" a.severity = $2) AND {IN_PORTFOLIO % (5, 5, 5)}"
        f" ORDER BY {SEVERITY_ORDER}, a.last_seen_on DESC, a.alert_id LIMIT $3 OFFSET $4",
        customer_id,
        severity,
        limit,
        offset,
        portfolio,
    )
    return [_alert(r) for r in rows]


class StreamedEvent(View):
    position: int
    event: str
    alert: AlertView


async def stream_after(conn: Connection, position: int, portfolio: str | None, limit: int = 500) -> list[StreamedEvent]:
    """Alert events after ``position`` in the store's order, each with its alert as it stands."""
    rows = await conn.fetch(
        f"SELECT h.position, h.event_type AS streamed, a.*, c.legal_name, p.collector FROM alert_history h"
        f" JOIN alerts a ON a.alert_id = h.alert_id LEFT JOIN customers c ON c.customer_id = a.customer_id"
        f" LEFT JOIN portfolios p ON p.customer_id = a.customer_id"
        f" WHERE h.position > $1 AND {IN_PORTFOLIO % (2, 2, 2)} ORDER BY h.position LIMIT $3",
        position,
        portfolio,
        limit,
    )
    found = []
    for row in rows:
        values = dict(row)
        at, streamed = values.pop("position"), values.pop("streamed")
        found.append(StreamedEvent(position=at, event=streamed, alert=_alert(values)))
    return found


async def latest_position(conn: Connection) -> int:
    found: int = await conn.fetchval("SELECT coalesce(max(position), 0) FROM alert_history")
    return found


async def alert(conn: Connection, alert_id: str, portfolio: str | None = None) -> AlertView | None:
    row = await conn.fetchrow(f"{_SELECT} WHERE a.alert_id = $1 AND {IN_PORTFOLIO % (2, 2, 2)}", alert_id, portfolio)
    if row is None:
        return None
    history = [
        HistoryLine(event=h["event_type"], by=h["by_whom"], detail=h["detail"], at=h["at"])
        for h in await conn.fetch("SELECT * FROM alert_history WHERE alert_id = $1 ORDER BY position", alert_id)
    ]
    return _alert(row, history)


async def customer_of(conn: Connection, alert_id: str, portfolio: str | None = None) -> str | None:
    found: str | None = await conn.fetchval(
        f"SELECT a.customer_id FROM alerts a LEFT JOIN portfolios p ON p.customer_id = a.customer_id"
        f" WHERE a.alert_id = $1 AND {IN_PORTFOLIO % (2, 2, 2)}",
        alert_id,
        portfolio,
    )
    return found


# -- subscriptions ------------------------------------------------------------------------------------------


class AttemptView(View):
    delivery_id: str
    alert_id: str
    attempt: int
    delivered: bool
    status: int | None
    error: str | None
    at: datetime


class SubscriptionView(View):
    subscription_id: str
    channel: Literal["email", "webhook"]
    address: str
    audience: Audience
    severities: list[Severity]
    rules: list[str]
    created_by: str
    state: Literal["active", "paused", "cancelled"]
    failures: int = Field(description="attempts in a row that failed")
    last_error: str | None
    waiting: int = Field(description="deliveries not yet made")
    delivered: int
    attempts: list[AttemptView] | None = None
    secret: str | None = Field(default=None, description="a webhook's signing secret, on creation and on request")


_SUBSCRIPTION = """
SELECT s.*, (SELECT count(*) FROM deliveries d WHERE d.subscription_id = s.subscription_id AND d.status = 'pending')
       AS waiting,
       (SELECT count(*) FROM deliveries d WHERE d.subscription_id = s.subscription_id AND d.status = 'delivered')
       AS delivered
  FROM subscriptions s
"""


def _subscription(row: Any, attempts: list[AttemptView] | None = None) -> SubscriptionView:
    state = "cancelled" if row["cancelled"] else "paused" if row["paused"] else "active"
    return SubscriptionView(
        subscription_id=row["subscription_id"],
        channel=row["channel"],
        address=row["address"],
        audience=Audience(role=row["role"], person=row["person"], portfolio=row["portfolio"]),
        severities=row["severities"],
        rules=row["rules"],
        created_by=row["created_by"],
        state=state,
        failures=row["failures"],
        last_error=row["last_error"],
        waiting=row["waiting"],
        delivered=row["delivered"],
        attempts=attempts,
    )


async def subscriptions(conn: Connection) -> list[SubscriptionView]:
    rows = await conn.fetch(f"{_SUBSCRIPTION} ORDER BY s.cancelled, s.subscription_id")
    return [_subscription(r) for r in rows]


async def subscription(conn: Connection, subscription_id: str, attempts: int = 100) -> SubscriptionView | None:
    row = await conn.fetchrow(f"{_SUBSCRIPTION} WHERE s.subscription_id = $1", subscription_id)
    if row is None:
        return None
    made = await conn.fetch(
        "SELECT * FROM delivery_attempts WHERE subscription_id = $1 ORDER BY at DESC, attempt DESC LIMIT $2",
        subscription_id,
        attempts,
    )
    return _subscription(
        row,
        [
            AttemptView(
                delivery_id=a["delivery_id"],
                alert_id=a["alert_id"],
                attempt=a["attempt"],
                delivered=a["delivered"],
                status=a["status"],
                error=a["error"],
                at=a["at"],
            )
            for a in made
        ],
    )


# -- the backtest -------------------------------------------------------------------------------------------


class RuleOutcome(View):
    rule_id: str
    kind: str
    severity: Severity
    alerts: int = Field(description="alerts it would have raised")
    repeats: int = Field(description="times it would have been met again while its alert was open")
    customers: int = Field(description="subjects it would have raised an alert for")
    recorded: int = Field(description="alerts of this rule id actually raised in the period")


class WeekOutcome(View):
    week: date = Field(description="the week's Monday")
    rule_id: str
    alerts: int


class ReplayedAlert(View):
    rule_id: str
    customer_id: str
    legal_name: str | None
    raised_on: date
    count: int
    facts: list[Fact]


class RulesWhatIfView(View):
    from_: date = Field(alias="from")
    to: date
    rules: list[RuleOutcome]
    weeks: list[WeekOutcome]
    alerts: list[ReplayedAlert] = Field(description="the first 1,000, in the order they would have been raised")
    total_alerts: int


async def rules_what_if_view(
    conn: Connection, rules: Sequence[Rule], found: Backtest, start: date, end: date
) -> RulesWhatIfView:
    recorded = {
        r["rule_id"]: r["n"]
        for r in await conn.fetch(
            "SELECT rule_id, count(*) AS n FROM alerts WHERE raised_on BETWEEN $1 AND $2 GROUP BY rule_id", start, end
        )
    }
    raised = found.raised()
    subjects: dict[str, set[str]] = {}
    for a in found.alerts:
        subjects.setdefault(a.rule_id, set()).add(a.subject)
    shown = found.alerts[:1000]
    names = {
        r["customer_id"]: r["legal_name"]
        for r in await conn.fetch(
            "SELECT customer_id, legal_name FROM customers WHERE customer_id = ANY($1::text[])",
            sorted({a.subject for a in shown}),
        )
    }
    return RulesWhatIfView.model_validate(
        {
            "from": start,
            "to": end,
            "rules": [
                RuleOutcome(
                    rule_id=rule.rule_id,
                    kind=rule.kind,
                    severity=rule.severity,
                    alerts=raised[rule.rule_id],
                    repeats=found.repeats[rule.rule_id],
                    customers=len(subjects.get(rule.rule_id, ())),
                    recorded=recorded.get(rule.rule_id, 0),
                )
                for rule in rules
            ],
            "weeks": [
                WeekOutcome(week=week, rule_id=rule_id, alerts=n)
                for (week, rule_id), n in sorted(found.weekly().items())
            ],
            "alerts": [
                ReplayedAlert(
                    rule_id=a.rule_id,
                    customer_id=a.subject,
                    legal_name=names.get(a.subject),
                    raised_on=a.raised_on,
                    count=a.count,
                    facts=list(a.facts),
                )
                for a in shown
            ],
            "total_alerts": len(found.alerts),
        }
    )
