"""profiles' own read model, written in the same transaction as its events."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from libs.events.database import Connection, migrations_in
from libs.events.store import RecordedEvent
from services.profiles.events import CustomerRegistered, ProfileUpdated

READ_MODEL = migrations_in(Path(__file__).parent / "migrations")


async def project(conn: Connection, events: Sequence[RecordedEvent]) -> None:
    rows = []
    for recorded in events:
        event = recorded.event
        if isinstance(event, CustomerRegistered):
            rows.append(
                (
                    event.customer_id,
                    event.legal_name,
                    event.registration_number,
                    event.country,
                    recorded.version,
                    recorded.occurred_at,
                )
            )
    if rows:
        await conn.executemany(
            "INSERT INTO customers (customer_id, legal_name, registration_number, country, version, registered_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            rows,
        )
    for recorded in events:
        event = recorded.event
        if isinstance(event, ProfileUpdated):
            await conn.execute(
                "UPDATE customers SET legal_name = $2, version = $3 WHERE customer_id = $1",
                event.customer_id,
                event.legal_name,
                recorded.version,
            )
