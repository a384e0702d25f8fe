"""What alerts does when others' events arrive: each rule in force looks at each event, and the
rules it meets raise an alert for its customer (or repeat the open one), with the event's id."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from contracts import profiles
from contracts.alerts import Fact, Rule
from libs.events.consumer import BatchHandler, Delivery
from libs.events.database import Connection
from libs.events.store import EventContext
from libs.service.directory import Directory
from services.alerts import handlers
from services.alerts.domain.triggers import facts_for


def signals(parts: handlers.Parts) -> BatchHandler:
    directory = Directory(profiles.directory_entry)

    async def react(conn: Connection, deliveries: Sequence[Delivery]) -> None:
        await directory.project(conn, deliveries)
        book = await handlers.rule_book(parts, conn)
        met: dict[str, list[tuple[Rule, Sequence[Fact]]]] = defaultdict(list)
        causes: dict[str, EventContext] = {}
        for delivery in deliveries:
            for rule in book.current:
                facts = facts_for(rule, delivery.event, str(delivery.envelope.id))
                if facts is not None:
                    met[delivery.customer_id].append((rule, facts))
                    causes[delivery.customer_id] = EventContext.caused_by(delivery.envelope)
        for customer_id, rules in met.items():
            await handlers.signal(parts, conn, customer_id, rules, book.version, causes[customer_id])

    return react
