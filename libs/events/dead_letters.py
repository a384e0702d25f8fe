"""List and re-drive dead letters of a service's consumers.

Re-driving marks a dead letter for the running consumer, which applies it and then the
same customer's messages that waited behind it, in order, with its current code. So the
usual sequence is: read the reason, deploy the fix (or the missing customer arrives),
re-drive.

    python -m libs.events.dead_letters list    --database-url URL [--consumer NAME] [--all]
    python -m libs.events.dead_letters redrive --database-url URL (--id N | --customer ID) [--consumer NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict, dataclass
from datetime import datetime

import asyncpg

from libs.events.database import Connection


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


_FIELDS = ", ".join(f'"{f}"' for f in DeadLetter.__dataclass_fields__)


async def list_dead_letters(
    conn: asyncpg.Connection | asyncpg.Pool, consumer: str | None = None, *, include_resolved: bool = False
) -> list[DeadLetter]:
    rows = await conn.fetch(
        f"SELECT {_FIELDS} FROM dead_letters WHERE ($1::text IS NULL OR consumer = $1)"
        " AND ($2 OR status <> 'resolved') ORDER BY id",
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


async def _main(args: argparse.Namespace) -> int:
    conn = await asyncpg.connect(args.database_url)
    try:
        if args.command == "list":
            letters = await list_dead_letters(conn, args.consumer, include_resolved=args.all)
            for letter in letters:
                print(json.dumps(asdict(letter), default=str, ensure_ascii=False))
            print(f"{len(letters)} dead letter(s)", file=sys.stderr)
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
    for name in ("list", "redrive"):
        command = sub.add_parser(name)
        command.add_argument("--database-url", required=True, help="the service's database")
        command.add_argument("--consumer", help="only this consumer's dead letters")
    sub.choices["list"].add_argument("--all", action="store_true", help="include resolved ones")
    which = sub.choices["redrive"].add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, help="one dead letter")
    which.add_argument("--customer", help="the dead letter of this customer")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
