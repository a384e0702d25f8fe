"""List, re-drive and discard dead letters of a service's consumers.

Re-driving marks a dead letter for the running consumer, which applies it and then the
same customer's messages that waited behind it, in order, with its current code. So the
usual sequence is: read the reason, deploy the fix (or the missing customer arrives),
re-drive. A later revision of the same document from the ERP supersedes a dead letter by
itself. A message that should never be applied is discarded, with a reason that is kept; the
customer's messages waiting behind it then flow on.

    python -m libs.events.dead_letters list    --database-url URL [--consumer NAME] [--all]
    python -m libs.events.dead_letters redrive --database-url URL (--id N | --customer ID) [--consumer NAME]
    python -m libs.events.dead_letters discard --database-url URL --id N --reason TEXT [--by NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from dataclasses import asdict, dataclass
from datetime import datetime

import asyncpg

from libs.events.consumer import set_aside
from libs.events.database import Connection
from libs.events.envelope import KafkaRecord


@dataclass(frozen=True)
class DeadLetter:
    id: int
    consumer: str
    status: str
    topic: str
    partition: int
    offset: int
    customer_id: str | None
    event_type: str | None
    stream_id: str | None
    stream_version: int | None
    reason: str
    error_type: str
    attempts: int
    created_at: datetime
    updated_at: datetime
    resolution: str | None
    resolved_by: str | None


_FIELDS = ", ".join(f'"{f}"' for f in DeadLetter.__dataclass_fields__)


async def list_dead_letters(
    conn: asyncpg.Connection | asyncpg.Pool, consumer: str | None = None, *, include_resolved: bool = False
) -> list[DeadLetter]:
    rows = await conn.fetch(
        f"SELECT {_FIELDS} FROM dead_letters WHERE ($1::text IS NULL OR consumer = $1)"
        " AND ($2 OR status IN ('dead', 'waiting', 'redrive')) ORDER BY id",
        consumer,
        include_resolved,
    )
    return [DeadLetter(**dict(r)) for r in rows]


async def request_redrive(
    conn: Connection | asyncpg.Pool,
    *,
    consumer: str | None = None,
    dead_letter_id: int | None = None,
    customer_id: str | None = None,
) -> int:
    """Mark dead letters for re-drive; returns how many were marked.

    Only a dead letter (not one waiting behind it) is marked: the consumer then takes the
    waiting ones of that customer along in order.
    """
    if (dead_letter_id is None) == (customer_id is None):
        raise ValueError("name exactly one of a dead letter id or a customer id")
    status = await conn.execute(
        "UPDATE dead_letters SET status = 'redrive', updated_at = now()"
        " WHERE status = 'dead' AND ($1::text IS NULL OR consumer = $1)"
        " AND ($2::bigint IS NULL OR id = $2) AND ($3::text IS NULL OR customer_id = $3)",
        consumer,
        dead_letter_id,
        customer_id,
    )
    return int(status.split()[-1])


class NotDiscardable(LookupError):
    pass


async def discard(conn: Connection, dead_letter_id: int, reason: str, by: str) -> DeadLetter:
    """Set a dead letter aside for good, with the reason; what waited behind it is re-driven."""
    if not reason.strip():
        raise ValueError("a dead letter is discarded with a reason")
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE dead_letters SET status = 'discarded', resolution = $2, resolved_by = $3, updated_at = now()"
            " WHERE id = $1 AND status IN ('dead', 'redrive')"
            " RETURNING consumer, customer_id, stream_id, stream_version",
            dead_letter_id,
            reason.strip(),
            by,
        )
        if row is None:
            raise NotDiscardable(f"no dead letter {dead_letter_id} is waiting to be applied (list them with --all)")
        if row["customer_id"] is not None:
            await set_aside(conn, row["consumer"], row["customer_id"], row["stream_id"], row["stream_version"])
        found = await conn.fetchrow(f"SELECT {_FIELDS} FROM dead_letters WHERE id = $1", dead_letter_id)
    assert found is not None
    return DeadLetter(**dict(found))


async def park(
    conn: Connection, *, consumer: str, topic: str, record: KafkaRecord, event: tuple[str, str, int], reason: str
) -> int:
    """Keep a message that arrived other than through the consumer (a document posted over HTTP) as
    a dead letter of that consumer, so that it is re-driven with the consumer's own; ``event`` is
    its (type, stream id, stream version). Returns the dead letter's id."""
    headers = json.dumps([[n, v.decode()] for n, v in record.headers])
    event_id = next(v.decode() for n, v in record.headers if n == "ce_id")
    return int(
        await conn.fetchval(
            'INSERT INTO dead_letters (consumer, topic, partition, "offset", customer_id, event_id, event_type,'
            " stream_id, stream_version, key, value, headers, status, reason, error_type, attempts)"
            " VALUES ($1, $2, -1, nextval('dead_letters_parked_offset'), $3, $4, $5, $6, $7, $8, $9, $10::jsonb,"
            " 'dead', $11, 'UnknownCustomer', 1) RETURNING id",
            consumer,
            topic,
            record.key.decode(),
            event_id,
            *event,
            record.key,
            record.value,
            headers,
            reason,
        )
    )


async def _main(args: argparse.Namespace) -> int:
    conn = await asyncpg.connect(args.database_url)
    try:
        if args.command == "list":
            letters = await list_dead_letters(conn, args.consumer, include_resolved=args.all)
            for letter in letters:
                print(json.dumps(asdict(letter), default=str, ensure_ascii=False))
            print(f"{len(letters)} dead letter(s)", file=sys.stderr)
            return 0
        if args.command == "discard":
            try:
                letter = await discard(conn, args.id, args.reason, args.by)
            except (NotDiscardable, ValueError) as refused:
                print(refused, file=sys.stderr)
                return 1
            print(json.dumps(asdict(letter), default=str, ensure_ascii=False))
            return 0
        marked = await request_redrive(conn, consumer=args.consumer, dead_letter_id=args.id, customer_id=args.customer)
        print(f"{marked} dead letter(s) marked for re-drive", file=sys.stderr)
        return 0 if marked else 1
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m libs.events.dead_letters",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("list", "redrive", "discard"):
        command = sub.add_parser(name)
        command.add_argument("--database-url", required=True, help="the service's database")
        command.add_argument("--consumer", help="only this consumer's dead letters")
    sub.choices["list"].add_argument("--all", action="store_true", help="include resolved ones")
    which = sub.choices["redrive"].add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, help="one dead letter")
    which.add_argument("--customer", help="the dead letter of this customer")
    discarding = sub.choices["discard"]
    discarding.add_argument("--id", type=int, required=True, help="the dead letter to set aside for good")
    discarding.add_argument("--reason", required=True, help="why it must never be applied; kept with it")
    discarding.add_argument("--by", default=getpass.getuser(), help="who decided (default: the login name)")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
