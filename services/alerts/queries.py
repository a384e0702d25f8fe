"""Read side of alerts: the views the API answers with."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, Literal

from pydantic import TypeAdapter

from contracts.alerts import Fact, Rule, Severity
from libs.events.database import Connection
from libs.service.views import View
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
    history: list[HistoryLine] | None = None


def _alert(row: Any, history: list[HistoryLine] | None = None) -> AlertView:
    values = dict(row)
    closed = values.pop("closed")
    status = closed or ("assigned" if row["assignee"] else "acknowledged" if row["acknowledged_by"] else "raised")
    facts = [Fact(**f) for f in json.loads(values.pop("facts"))]
    return AlertView(**values, status=status, facts=facts, history=history)


_SELECT = "SELECT a.*, c.legal_name FROM alerts a LEFT JOIN customers c ON c.customer_id = a.customer_id"
SEVERITY_ORDER = "CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END"


async def alerts(
    conn: Connection,
    status: Literal["open", "closed", "all"],
    customer_id: str | None,
    severity: Severity | None,
    limit: int,
    offset: int,
) -> list[AlertView]:
    """Most severe first, then the most recently seen."""
    where = {"open": "a.closed IS NULL", "closed": "a.closed IS NOT NULL", "all": "true"}[status]
    rows = await conn.fetch(
        f"{_SELECT} WHERE {where} AND ($1::text IS NULL OR a.customer_id = $1) AND ($2::text IS NULL OR"
        f" a.severity = $2) ORDER BY {SEVERITY_ORDER}, a.last_seen_on DESC, a.alert_id LIMIT $3 OFFSET $4",
        customer_id,
        severity,
        limit,
        offset,
    )
    return [_alert(r) for r in rows]


async def alert(conn: Connection, alert_id: str) -> AlertView | None:
    row = await conn.fetchrow(f"{_SELECT} WHERE a.alert_id = $1", alert_id)
    if row is None:
        return None
    history = [
        HistoryLine(event=h["event_type"], by=h["by_whom"], detail=h["detail"], at=h["at"])
        for h in await conn.fetch("SELECT * FROM alert_history WHERE alert_id = $1 ORDER BY position", alert_id)
    ]
    return _alert(row, history)


async def customer_of(conn: Connection, alert_id: str) -> str | None:
    found: str | None = await conn.fetchval("SELECT customer_id FROM alerts WHERE alert_id = $1", alert_id)
    return found
