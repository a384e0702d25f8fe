"""The CloudEvents envelope, the business clock and sweep dates, as pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest
from aiokafka.partitioner import DefaultPartitioner

from libs.events.clock import SettableClock, SystemClock, clock_from_setting
from libs.events.envelope import Envelope, EnvelopeError, from_kafka, header_map, to_kafka
from libs.events.kafka import partition_for
from libs.events.sweeps import dates_due


def _envelope(**changes: object) -> Envelope:
    base = dict(
        id=uuid4(),
        source="receivables",
        type="receivables.InvoiceIssued",
        time=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
        subject="invoice-INV-1",
        stream_version=3,
        schema_version=2,
        customer_id="cust-42",
        data={"amount": {"amount": "100.00", "currency": "CNY"}},
        correlation_id="req-7",
        causation_id=None,
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    return Envelope(**{**base, **changes})  # type: ignore[arg-type]


def test_kafka_binary_mode_round_trip() -> None:
    envelope = _envelope()
    record = to_kafka(envelope)
    headers = header_map(record.headers)
    assert record.key == b"cust-42"
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_time"] == "2026-11-23T09:30:00Z"
    assert headers["ce_subject"] == "invoice-INV-1"
    assert headers["ce_streamversion"] == "3"
    assert headers["content-type"] == "application/json"
    assert "ce_causationid" not in headers
    assert from_kafka(record.key, record.value, record.headers) == envelope


def test_unicode_data_travels_unescaped() -> None:
    record = to_kafka(_envelope(data={"name": "上海加喜贸易有限公司"}))
    assert "上海加喜贸易有限公司".encode() in record.value
    assert from_kafka(record.key, record.value, record.headers).data == {"name": "上海加喜贸易有限公司"}


def test_a_broken_record_is_refused_naming_every_problem() -> None:
    record = to_kafka(_envelope())
    headers = [(n, v) for n, v in record.headers if n not in ("ce_id", "ce_subject")]
    headers = [(n, b"zero" if n == "ce_streamversion" else v) for n, v in headers]
    with pytest.raises(EnvelopeError) as refused:
        from_kafka(None, b"[1, 2]", headers)
    reason = str(refused.value)
    assert "missing header ce_id" in reason
    assert "missing header ce_subject" in reason
    assert "missing Kafka key" in reason
    with pytest.raises(EnvelopeError, match="ce_streamversion 'zero' is invalid"):
        from_kafka(
            record.key, record.value, [(n, b"zero" if n == "ce_streamversion" else v) for n, v in record.headers]
        )
    with pytest.raises(EnvelopeError, match="value is not a JSON object"):
        from_kafka(record.key, b"[1]", record.headers)
    with pytest.raises(EnvelopeError, match="differs from the key"):
        from_kafka(b"someone-else", record.value, record.headers)


def test_partitioning_agrees_with_the_java_default_partitioner() -> None:
    for key in (b"cust-1", b"cust-42", "客户-7".encode(), b""):
        assert partition_for(key, 6) == DefaultPartitioner()(key, list(range(6)), list(range(6)))


def test_settable_clock() -> None:
    clock = SettableClock(date(2026, 11, 23), frozen=True)
    assert clock.today() == date(2026, 11, 23)
    clock.advance(timedelta(days=40))
    assert clock.today() == date(2027, 1, 2)
    running = SettableClock(datetime(2030, 1, 1, tzinfo=UTC))
    assert running.today() == date(2030, 1, 1)
    with pytest.raises(ValueError, match="time zone"):
        running.set(datetime(2030, 1, 1))


def test_clock_from_setting() -> None:
    assert isinstance(clock_from_setting(None), SystemClock)
    assert clock_from_setting("2026-12-31").today() == date(2026, 12, 31)
    assert clock_from_setting("+30d").today() == SystemClock().today() + timedelta(days=30)
    with pytest.raises(ValueError, match="neither YYYY-MM-DD"):
        clock_from_setting("next tuesday")


def test_sweep_dates_catch_up_day_by_day() -> None:
    assert dates_due(None, date(2026, 11, 23)) == [date(2026, 11, 23)]
    assert dates_due(date(2026, 11, 23), date(2026, 11, 23)) == []
    assert dates_due(date(2026, 11, 28), date(2026, 12, 1)) == [
        date(2026, 11, 29),
        date(2026, 11, 30),
        date(2026, 12, 1),
    ]
    assert dates_due(date(2026, 12, 1), date(2026, 11, 28)) == []
