"""The dead-letter watch: every message a service's consumer set aside (copied to ``<service>.dlq``
with the reason in its headers) raises the operations alert of that service, or repeats its open
one, with the reason, the consumer and where the message was."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from contracts.alerts import OPERATIONS, DeadLetter, Fact
from libs.events.kafka import ensure_topics
from libs.events.topics import dead_letter_topic
from libs.service.settings import ServiceSettings
from services.alerts import handlers

log = structlog.get_logger(__name__)

SERVICES = ("profiles", "scoring", "receivables", "collections", "alerts")
GROUP = "alerts-dead-letters"


def subject_of(service: str) -> str:
    return f"{OPERATIONS}-{service}"


def facts_of(service: str, headers: dict[str, str], where: str) -> tuple[Fact, ...]:
    """A dead letter's facts, each naming it by its service and id."""
    carried = {"event_id": f"{service}.dlq#{headers.get('dlq_id', where)}", "event_type": headers.get("ce_type", "")}
    named = (
        ("service", service),
        ("consumer", headers.get("dlq_consumer", "")),
        ("reason", headers.get("dlq_reason", "")),
        ("error_type", headers.get("dlq_error_type", "")),
        (
            "message",
            f"{headers.get('dlq_topic', '?')}/{headers.get('dlq_partition', '?')}/{headers.get('dlq_offset', '?')}",
        ),
    )
    return tuple(Fact(name=n, value=v, **carried) for n, v in named)


class Watch:
    def __init__(self, parts: handlers.Parts, settings: ServiceSettings) -> None:
        self.parts = parts
        self.bootstrap_servers = settings.kafka_bootstrap_servers
        self.service_of = {settings.topic_name(dead_letter_topic(s)): s for s in SERVICES}
        self.topics = list(self.service_of)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._session(stop)
            except Exception as exc:  # noqa: BLE001 - the broker or the database away: try again shortly
                log.warning("dead_letters.watch_unavailable", error=repr(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2.0)

    async def _session(self, stop: asyncio.Event) -> None:
        await ensure_topics(self.bootstrap_servers, self.topics)
        consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap_servers,
            group_id=GROUP,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=2000,
        )
        await consumer.start()
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=2000, max_records=100)
                for records in batches.values():
                    await self.apply(records)
                if batches:
                    await consumer.commit()
        finally:
            await consumer.stop()

    async def apply(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Each dead letter once (a redelivered one is known by its service and id)."""
        for record in records:
            service = self.service_of[record.topic]
            headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
            dlq_id = int(headers.get("dlq_id", "-1"))
            async with self.parts.store.transaction() as conn:
                book = await handlers.rule_book(self.parts, conn)
                rules = [r for r in book.current if isinstance(r, DeadLetter)]
                first = await conn.fetchval(
                    "INSERT INTO dead_letters_seen VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING dlq_id",
                    service,
                    dlq_id,
                )
                if first is None or not rules:
                    continue
                facts = facts_of(service, headers, f"{record.partition}/{record.offset}")
                await handlers.signal(self.parts, conn, subject_of(service), [(r, facts) for r in rules], book.version)
            log.info("dead_letters.alert", service=service, dlq_id=dlq_id)
