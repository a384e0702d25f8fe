"""What alerts does when others' events arrive: each rule in force looks at each event, with what
alerts remembers of the customer and the book, and the rules it meets raise an alert for their
subject (or repeat its open one), with the event's id. Then the event goes into that memory."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from immutables import Map

from contracts import profiles
from contracts.alerts import Concentration, Fact, Rule, TopConcentration
from contracts.collections import CollectorAssigned
from contracts.profiles import BureauReportRecorded, InsuranceCoverRecorded
from contracts.scoring import CustomerScored
from libs.events.consumer import BatchHandler, Delivery
from libs.events.database import Connection
from libs.events.store import EventContext
from libs.service.directory import Directory
from services.alerts import handlers
from services.alerts.domain.triggers import (
    HISTORY_DAYS,
    LOOKED_AT,
    REMEMBERED,
    Book,
    Cover,
    Memory,
    Report,
    Scored,
    adverse_key,
    facts_for,
    overdue_share,
    remember,
)


def signals(parts: handlers.Parts) -> BatchHandler:
    directory = Directory(profiles.directory_entry)

    async def react(conn: Connection, deliveries: Sequence[Delivery]) -> None:
        await directory.project(conn, deliveries)
        await _portfolios(conn, deliveries)
        rule_book = await handlers.rule_book(parts, conn)
        rules = rule_book.current
        customers = {d.customer_id for d in deliveries}
        memories = await load_memories(conn, customers)
        needs_book = any(isinstance(r, Concentration | TopConcentration) for r in rules)
        book = await load_book(conn) if needs_book and _any_scored(deliveries) else Book()
        today = parts.clock.today()
        await _observe(conn, deliveries, today)
        met: dict[str, list[tuple[Rule, Sequence[Fact]]]] = defaultdict(list)
        causes: dict[str, EventContext] = {}
        for delivery in deliveries:
            customer, event, event_id = delivery.customer_id, delivery.event, str(delivery.envelope.id)
            memory = memories.get(customer, Memory())
            for rule in rules:
                found = facts_for(rule, event, event_id, customer, memory, book, today)
                if found is not None:
                    met[found.subject].append((rule, found.facts))
                    causes[found.subject] = EventContext.caused_by(delivery.envelope)
            if isinstance(event, REMEMBERED):
                memories[customer], book = remember(memory, book, customer, event, event_id)
                await _keep(conn, customer, event, event_id)
        for subject, rules_met in met.items():
            await handlers.signal(parts, conn, subject, rules_met, rule_book.version, causes[subject])

    return react


async def _observe(conn: Connection, deliveries: Sequence[Delivery], today: date) -> None:
    """What a rule can look at, kept in the order received, for the backtest."""
    kept = [d for d in deliveries if isinstance(d.event, LOOKED_AT)]
    if not kept:
        return
    await conn.execute(
        "INSERT INTO observed (observed_on, customer_id, event_id, event_type, schema_version, data)"
        " SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::jsonb[])"
        " ON CONFLICT (event_id) DO NOTHING",
        today,
        [d.customer_id for d in kept],
        [str(d.envelope.id) for d in kept],
        [d.envelope.type for d in kept],
        [d.envelope.schema_version for d in kept],
        [json.dumps(d.envelope.data, ensure_ascii=False) for d in kept],
    )


def _any_scored(deliveries: Iterable[Delivery]) -> bool:
    return any(isinstance(d.event, CustomerScored) for d in deliveries)


async def _portfolios(conn: Connection, deliveries: Sequence[Delivery]) -> None:
    """Whose portfolio each customer is in: subscriptions and the live stream filter by it."""
    for delivery in deliveries:
        if isinstance(delivery.event, CollectorAssigned):
            await conn.execute(
                "INSERT INTO portfolios VALUES ($1, $2) ON CONFLICT (customer_id) DO UPDATE SET collector = $2",
                delivery.customer_id,
                delivery.event.collector,
            )


async def load_memories(conn: Connection, customers: set[str]) -> dict[str, Memory]:
    wanted = sorted(customers)
    scores: dict[str, list[Scored]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT * FROM scores WHERE customer_id = ANY($1::text[]) ORDER BY customer_id, seq", wanted
    ):
        scores[r["customer_id"]].append(Scored(r["scored_on"], r["score"], r["overdue_share"], r["event_id"]))
    reports: dict[str, dict[str, Report]] = defaultdict(dict)
    for r in await conn.fetch("SELECT * FROM bureau_reports WHERE customer_id = ANY($1::text[])", wanted):
        reports[r["customer_id"]][r["provider"]] = Report(r["score"], frozenset(r["adverse"]), r["event_id"])
    covers: dict[str, dict[str, Cover]] = defaultdict(dict)
    for r in await conn.fetch("SELECT * FROM covers WHERE customer_id = ANY($1::text[])", wanted):
        covers[r["customer_id"]][r["policy_number"]] = Cover(
            r["insurer"], r["insured"], r["currency"], r["expires_on"], r["event_id"]
        )
    return {
        c: Memory(tuple(scores.get(c, ())), reports.get(c, {}), covers.get(c, {}))
        for c in wanted
        if c in scores or c in reports or c in covers
    }


async def load_book(conn: Connection) -> Book:
    rows = await conn.fetch("SELECT customer_id, balance FROM balances")
    return Book(Map({r["customer_id"]: Decimal(r["balance"]) for r in rows}))


async def _keep(conn: Connection, customer_id: str, event: object, event_id: str) -> None:
    """The event in alerts' memory, as ``remember`` folds it."""
    match event:
        case CustomerScored():
            as_of = event.inputs.as_of
            await conn.execute(
                "INSERT INTO scores (customer_id, scored_on, score, overdue_share, event_id)"
                " VALUES ($1, $2, $3, $4, $5)",
                customer_id,
                as_of,
                event.score,
                overdue_share(event),
                event_id,
            )
            await conn.execute(
                "DELETE FROM scores WHERE customer_id = $1 AND scored_on <= $2::date - $3::int",
                customer_id,
                as_of,
                HISTORY_DAYS,
            )
            if event.inputs.balance is not None:
                await conn.execute(
                    "INSERT INTO balances VALUES ($1, $2) ON CONFLICT (customer_id) DO UPDATE SET balance = $2",
                    customer_id,
                    event.inputs.balance,
                )
        case BureauReportRecorded():
            await conn.execute(
                "INSERT INTO bureau_reports VALUES ($1, $2, $3, $4, $5) ON CONFLICT (customer_id, provider)"
                " DO UPDATE SET score = $3, adverse = $4, event_id = $5",
                customer_id,
                event.provider,
                event.score,
                sorted(adverse_key(r) for r in event.adverse_records),
                event_id,
            )
        case InsuranceCoverRecorded():
            limit = event.insured_limit
            await conn.execute(
                "INSERT INTO covers VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (customer_id, policy_number)"
                " DO UPDATE SET insurer = $3, insured = $4, currency = $5, expires_on = $6, event_id = $7",
                customer_id,
                event.policy_number,
                event.insurer,
                limit.amount,
                limit.currency,
                event.expires_on,
                event_id,
            )
