"""What alerts does when others' events arrive: each rule in force looks at each event, with what
alerts remembers of the customer and the book, and the rules it meets raise an alert for their
subject (or repeat its open one), with the event's id. Then the event goes into that memory."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from contracts import profiles
from contracts.alerts import Concentration, Fact, Rule, TopConcentration
from contracts.collections import CollectorAssigned
from contracts.profiles import BureauReportRecorded, InsuranceCoverCancelled, InsuranceCoverRecorded
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
    remember,
)

BOOK_FOR_SECONDS = 60.0  # the cached book is read again this often (replicas each see their partitions)


def signals(parts: handlers.Parts) -> BatchHandler:
    directory = Directory(profiles.directory_entry)
    cached: list[tuple[float, Book]] = []  # the book and when it was read

    async def book_for(conn: Connection, deliveries: Sequence[Delivery], rules: Sequence[Rule]) -> Book:
        if not any(isinstance(r, Concentration | TopConcentration) for r in rules) or not _any_scored(deliveries):
            return Book()
        if not cached or time.monotonic() - cached[0][0] > BOOK_FOR_SECONDS:
            cached[:] = [(time.monotonic(), await load_book(conn))]
        return cached[0][1]  # changed in place as events arrive; setting a balance again is harmless

    async def react(conn: Connection, deliveries: Sequence[Delivery]) -> None:
        await directory.project(conn, deliveries)
        await _portfolios(conn, deliveries)
        rule_book = await handlers.rule_book(parts, conn)
        rules = rule_book.current
        memories = await load_memories(conn, {d.customer_id for d in deliveries})
        book = await book_for(conn, deliveries, rules)
        today = parts.clock.today()
        await _observe(conn, deliveries, today)
        met: dict[str, list[tuple[Rule, Sequence[Fact]]]] = defaultdict(list)
        causes: dict[str, EventContext] = {}
        scored: dict[str, CustomerScored] = {}
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
                if isinstance(event, CustomerScored):
                    scored[customer] = event
                else:
                    await _keep(conn, customer, event, event_id)
        await _keep_scores(conn, memories, scored)
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
        "SELECT * FROM scores WHERE customer_id = ANY($1::text[]) ORDER BY customer_id, scored_on", wanted
    ):
        scored = Scored(r["scored_on"], r["score"], r["event_id"], r["overdue_share"], r["share_event_id"])
        scores[r["customer_id"]].append(scored)
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
    return Book({r["customer_id"]: Decimal(r["balance"]) for r in rows})


async def _keep_scores(conn: Connection, memories: dict[str, Memory], scored: dict[str, CustomerScored]) -> None:
    """Each scored customer's latest day, as ``remember`` merged it, and balance: one statement each
    for the batch; days older than any rule looks at go."""
    if not scored:
        return
    days = [(c, memories[c].scores[-1]) for c in sorted(scored)]
    await conn.execute(
        "INSERT INTO scores SELECT * FROM unnest($1::text[], $2::date[], $3::numeric[], $4::text[], $5::numeric[],"
        " $6::text[]) ON CONFLICT (customer_id, scored_on) DO UPDATE SET score = excluded.score,"
        " event_id = excluded.event_id, overdue_share = excluded.overdue_share,"
        " share_event_id = excluded.share_event_id",
        [c for c, _ in days],
        [d.on for _, d in days],
        [d.score for _, d in days],
        [d.event_id for _, d in days],
        [d.overdue_share for _, d in days],
        [d.share_event_id for _, d in days],
    )
    await conn.execute(
        "DELETE FROM scores s USING unnest($1::text[], $2::date[]) AS kept(customer_id, latest)"
        " WHERE s.customer_id = kept.customer_id AND s.scored_on <= kept.latest - $3::int",
        [c for c, _ in days],
        [d.on for _, d in days],
        HISTORY_DAYS,
    )
    balanced = [(c, e.inputs.balance) for c, e in sorted(scored.items()) if e.inputs.balance is not None]
    if balanced:
        await conn.execute(
            "INSERT INTO balances SELECT * FROM unnest($1::text[], $2::numeric[])"
            " ON CONFLICT (customer_id) DO UPDATE SET balance = excluded.balance",
            [c for c, _ in balanced],
            [b for _, b in balanced],
        )


async def _keep(conn: Connection, customer_id: str, event: object, event_id: str) -> None:
    """The event in alerts' memory, as ``remember`` folds it."""
    match event:
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
        case InsuranceCoverCancelled():
            await conn.execute(
                "DELETE FROM covers WHERE customer_id = $1 AND policy_number = $2", customer_id, event.policy_number
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
