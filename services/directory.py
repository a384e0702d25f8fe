"""The customer directory that receivables, scoring, collections and alerts each project
from profiles.events into their own read model, so that they know which customers exist."""

from __future__ import annotations

from collections.abc import Sequence

from libs.events.consumer import Delivery
from libs.events.database import Connection, Migration
from libs.service.kit import ConsumerSpec
from services.profiles.events import CustomerRegistered, ProfileUpdated

READ_MODEL = [
    Migration(
        "directory/001_customers.sql",
        """
        CREATE TABLE customers (
            customer_id   text PRIMARY KEY,
            legal_name    text        NOT NULL,
            country       text        NOT NULL,
            registered_at timestamptz NOT NULL
        );
        """,
    ),
    Migration(
        "directory/002_erp_id.sql",
        """
        ALTER TABLE customers ADD COLUMN erp_id text;
        CREATE INDEX customers_erp_id ON customers (erp_id);
        """,
    ),
    Migration("directory/003_address.sql", "ALTER TABLE customers ADD COLUMN address text;"),
]


async def project(conn: Connection, deliveries: Sequence[Delivery]) -> None:
    rows = []
    for delivery in deliveries:
        event = delivery.event
        if isinstance(event, CustomerRegistered):
            rows.append(
                (
                    event.customer_id,
                    event.legal_name,
                    event.registration.country,
                    delivery.envelope.time,
                    event.erp_id,
                    event.address,
                )
            )
    if rows:
        await conn.executemany(
            "INSERT INTO customers (customer_id, legal_name, country, registered_at, erp_id, address)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (customer_id) DO UPDATE"
            " SET legal_name = excluded.legal_name, country = excluded.country, erp_id = excluded.erp_id,"
            " address = excluded.address",
            rows,
        )
    for delivery in deliveries:
        if isinstance(delivery.event, ProfileUpdated):
            await conn.execute(
                "UPDATE customers SET legal_name = $2, erp_id = $3, address = $4 WHERE customer_id = $1",
                delivery.event.customer_id,
                delivery.event.legal_name,
                delivery.event.erp_id,
                delivery.event.address,
            )


def erp_ids(deliveries: Sequence[Delivery]) -> list[str]:
    """The ERP ids that the customers in these deliveries now have."""
    return [
        d.event.erp_id
        for d in deliveries
        if isinstance(d.event, CustomerRegistered | ProfileUpdated) and d.event.erp_id is not None
    ]


CONSUMER = ConsumerSpec("customers", ["profiles.events"], batch_handler=project)
