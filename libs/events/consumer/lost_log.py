"""Noticing that the broker has lost or replaced a partition's log.

On assignment the consumer re-reads the last message it applied in each partition: finding it,
with the same event id, proves the broker still holds the log the stored offset refers to. A
stored offset beyond the end of the log, a different event at the stored position, or a
position beyond the end after a restart of an empty broker all mean the log is gone: the
consumer says so loudly and re-reads the partition from its start, skipping what it applied.

The high watermark of the last fetch is the end of the log; ListOffsets is not relied on, since
the embedded broker answers it with the start of its last batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from libs.events.consumer.messages import header

Reset = Callable[[TopicPartition, str, int], Awaitable[None]]


class LogReplaced(Exception):
    def __init__(self, tp: TopicPartition, reason: str) -> None:
        super().__init__(reason)
        self.tp = tp
        self.reason = reason


class LogWatch:
    """The partitions whose stored position is still to be proven, and the checks that prove it."""

    def __init__(self, reset: Reset) -> None:
        self.reset = reset  # seek the partition to its start, saying why
        self._expected: dict[TopicPartition, tuple[int, str | None]] = {}

    def clear(self) -> None:
        self._expected.clear()

    def expect(self, tp: TopicPartition, offset: int, event_id: str | None) -> None:
        """The consumer seeks to ``offset``, where the event ``event_id`` it last applied should be."""
        self._expected[tp] = (offset, event_id)

    def forget(self, tp: TopicPartition) -> None:
        self._expected.pop(tp, None)

    @property
    def settled(self) -> bool:
        return not self._expected

    def verified(self, tp: TopicPartition, records: list[ConsumerRecord[Any, Any]]) -> list[ConsumerRecord[Any, Any]]:
        """The records after the proof; raises ``LogReplaced`` when the proof fails."""
        expected = self._expected.pop(tp, None)
        if expected is None or not records:
            return records
        offset, event_id = expected
        first = records[0]
        if first.offset == offset and header(first.headers, "ce_id") == event_id:
            return records[1:]  # the last message applied: the broker holds the log we read
        raise LogReplaced(tp, f"offset {offset} holds {header(first.headers, 'ce_id')}, not {event_id}")

    async def verified_or_reset(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: list[ConsumerRecord[Any, Any]]
    ) -> list[ConsumerRecord[Any, Any]]:
        try:
            return self.verified(tp, records)
        except LogReplaced as replaced:
            begins = await consumer.beginning_offsets([tp])
            await self.reset(tp, replaced.reason, begins[tp])
            return []

    async def check_unverified(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, Any]) -> None:
        """A partition still to be proven that fetched nothing, and ends before the stored offset."""
        for tp, (offset, _) in list(self._expected.items()):
            highwater = consumer.highwater(tp)
            if tp not in batches and highwater is not None and highwater <= offset:
                begins = await consumer.beginning_offsets([tp])
                await self.reset(tp, f"stored offset {offset + 1} is beyond the end {highwater}", begins[tp])

    async def check_positions(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        """A broker that restarted empty answers fetches beyond its end with nothing: notice it."""
        for tp in list(assigned):
            highwater = consumer.highwater(tp)
            position = await consumer.position(tp)
            if highwater is not None and position > highwater:
                begins = await consumer.beginning_offsets([tp])
                await self.reset(tp, f"position {position} is beyond the end {highwater}", begins[tp])
