"""Delivery of alerts to subscriptions: a reactor on the deliveries the projection queued (one row per
alert event and subscription it matched, in the event's own transaction, so none is lost). Each is
sent through its channel and each attempt recorded as ``DeliveryAttempted``; a failed one is tried
again with a doubling delay until it goes through (at least once: the receiver deduplicates on the
delivery id, the same on every attempt) or its receiver is paused.

A webhook is a POST of the JSON payload with ``Credo-Delivery-Id``, ``Credo-Event-Type`` and
``Credo-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the subscription's
secret>``: the receiver recomputes it and rejects an old timestamp, as with Stripe's."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

import aiosmtplib
import asyncpg
import httpx
import structlog

from contracts.alerts import DeliveryAttempted
from libs.events.failpoints import failpoint
from libs.events.waiting import in_rounds
from services.alerts import handlers
from services.alerts.settings import AlertsSettings

log = structlog.get_logger(__name__)


def secret_of(settings: AlertsSettings, subscription_id: str) -> str:
    """A subscription's signing secret: derived, never stored or published."""
    key = settings.signing_key.get_secret_value().encode()
    return "whsec_" + hmac.new(key, subscription_id.encode(), hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def retry_delay(settings: AlertsSettings, attempt: int) -> float:
    return float(min(settings.retry_seconds * 2 ** (attempt - 1), settings.retry_max_seconds))


_DUE = """
UPDATE deliveries d SET claimed_until = now() + $2::interval
  FROM subscriptions s
 WHERE s.subscription_id = d.subscription_id
   AND (d.delivery_id, d.subscription_id) IN (
       SELECT q.delivery_id, q.subscription_id FROM deliveries q JOIN subscriptions t USING (subscription_id)
        WHERE q.status = 'pending' AND q.next_attempt_at <= now() AND NOT t.paused AND NOT t.cancelled
          AND (q.claimed_until IS NULL OR q.claimed_until < now())
        ORDER BY q.next_attempt_at LIMIT $1 FOR UPDATE OF q SKIP LOCKED)
RETURNING d.delivery_id, d.subscription_id, d.alert_id, d.payload::text AS payload, d.attempts,
          s.channel, s.address
"""
_ALERT = """
SELECT a.*, c.legal_name FROM alerts a LEFT JOIN customers c ON c.customer_id = a.customer_id WHERE a.alert_id = $1
"""


class Deliverer:
    def __init__(self, parts: handlers.Parts, pool: asyncpg.Pool, settings: AlertsSettings) -> None:
        self.parts = parts
        self.pool = pool
        self.settings = settings
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=self.settings.timeout_seconds) as client:
            await in_rounds(self._wake, stop, lambda: self.deliver_due(client), self._until_next, what="deliveries")

    async def _until_next(self) -> float:
        seconds = await self.pool.fetchval(
            "SELECT extract(epoch FROM min(greatest(d.next_attempt_at, coalesce(d.claimed_until, d.next_attempt_at)))"
            " - now()) FROM deliveries d JOIN subscriptions s USING (subscription_id)"
            " WHERE d.status = 'pending' AND NOT s.paused AND NOT s.cancelled"
        )
        # A delivery queued, or a receiver resumed, wakes the deliverer (the projection notifies on
        # commit); until then only retries are waited for.
        return 30.0 if seconds is None else min(max(float(seconds), 0.05), 30.0)

    async def deliver_due(self, client: httpx.AsyncClient, batch: int = 20) -> int:
        claimed = await self.pool.fetch(_DUE, batch, timedelta(seconds=self.settings.claim_seconds))
        await asyncio.gather(*(self._deliver(client, row) for row in claimed))
        return len(claimed)

    async def _deliver(self, client: httpx.AsyncClient, row: Any) -> None:
        attempt = row["attempts"] + 1
        status: int | None = None
        error: str | None = None
        try:
            if row["channel"] == "webhook":
                status = await self._post(client, row)
                if not 200 <= status < 300:
                    error = f"the receiver answered HTTP {status}"
            else:
                await self._email(row)
            failpoint("alerts.after_delivery")  # delivered, not yet recorded: it goes again, same id
        except Exception as failure:  # noqa: BLE001 - any failure of the channel is recorded and retried
            error = f"{type(failure).__name__}: {failure}"[:500]
        outcome = DeliveryAttempted(
            subscription_id=row["subscription_id"],
            delivery_id=row["delivery_id"],
            alert_id=row["alert_id"],
            attempt=attempt,
            delivered=error is None,
            status=status,
            error=error,
        )
        async with self.parts.store.transaction() as conn:
            await handlers.record_attempt(self.parts, conn, outcome)
            if error is not None:
                await conn.execute(
                    "UPDATE deliveries SET next_attempt_at = now() + make_interval(secs => $3), claimed_until = NULL"
                    " WHERE delivery_id = $1 AND subscription_id = $2",
                    row["delivery_id"],
                    row["subscription_id"],
                    retry_delay(self.settings, attempt),
                )
        log.info("alert.delivery", delivery=row["delivery_id"], subscription=row["subscription_id"], error=error)

    async def _post(self, client: httpx.AsyncClient, row: Any) -> int:
        body = row["payload"].encode()
        payload = json.loads(row["payload"])
        secret = secret_of(self.settings, row["subscription_id"])
        headers = {
            "Content-Type": "application/json",
            "Credo-Delivery-Id": row["delivery_id"],
            "Credo-Event-Type": payload["type"],
            "Credo-Signature": signature(secret, int(time.time()), body),
        }
        response = await client.post(row["address"], content=body, headers=headers)
        return response.status_code

    async def _email(self, row: Any) -> None:
        settings = self.settings
        if not settings.smtp_host:
            raise RuntimeError("no SMTP server is configured (CREDO_ALERTS_SMTP_HOST)")
        alert = await self.pool.fetchrow(_ALERT, row["alert_id"])
        payload = json.loads(row["payload"])
        message = EmailMessage()
        message["From"] = formataddr(("Credo", settings.mail_from))
        message["To"] = row["address"]
        message["Subject"] = email_subject(alert, payload["type"])
        message["Message-ID"] = f"<{row['delivery_id']}.{row['subscription_id']}@alerts.credo>"
        message["Date"] = format_datetime(datetime.now(UTC))
        message.set_content(email_body(alert, payload["type"]))
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_starttls,
            timeout=settings.timeout_seconds,
        )


SEVERITY_ZH = {"critical": "严重", "warning": "警告", "info": "提示"}
WHAT_ZH = {
    "alerts.AlertRaised": "新预警",
    "alerts.AlertRepeated": "预警再次触发",
    "alerts.AlertEscalated": "预警升级",
    "alerts.AlertAcknowledged": "预警已确认",
    "alerts.AlertAssigned": "预警已分派",
    "alerts.AlertResolved": "预警已解决",
    "alerts.AlertSuppressed": "预警已屏蔽",
}


def email_subject(alert: Any, event_type: str) -> str:
    name = alert["legal_name"] or alert["customer_id"]
    return (
        f"[Credo {SEVERITY_ZH[alert['severity']]}] {WHAT_ZH.get(event_type, event_type)}：{name} · {alert['rule_id']}"
    )


def email_body(alert: Any, event_type: str) -> str:
    facts = json.loads(alert["facts"])
    lines = [
        f"{WHAT_ZH.get(event_type, event_type)} ({event_type.removeprefix('alerts.')})",
        "",
        f"客户 Customer: {alert['legal_name'] or ''} ({alert['customer_id']})",
        f"规则 Rule: {alert['rule_id']} v{alert['rule_version']} ({alert['kind']})",
        f"级别 Severity: {SEVERITY_ZH[alert['severity']]} ({alert['severity']})",
        f"预警 Alert: {alert['alert_id']}, 触发 {alert['count']} 次 (times met), 首次 raised {alert['raised_on']}",
        f"当前处理角色 With: {alert['notify']}",
        "",
        "触发依据 Why it fired:",
        *(f"  - {f['name']}: {f['value']}  ({f['event_type']} {f['event_id']})" for f in facts),
    ]
    return "\n".join(lines) + "\n"
