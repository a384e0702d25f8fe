"""The notice sender: a reactor on the case's own steps. It takes the notices queued for a step
(one row per channel), sends each through its channel, and records what it did as an event
(``NoticeSent`` / ``NoticeFailed``). A notice is claimed before it is sent; a crash between the
send and its record lets the claim lapse and sends that notice once more, with the same
Message-ID (or SMS id), so the receiver can drop the repeat."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any, Protocol

import aiosmtplib
import asyncpg
import httpx
import structlog
from fpdf import FPDF

from contracts.collections import Channel, DunningStepTaken, Language, NoticeFailed, NoticeSent
from libs.events.database import Connection
from libs.events.failpoints import failpoint
from libs.events.waiting import in_rounds
from services.collections import handlers
from services.collections.domain.notice import Letterhead, compose, language_of, totals
from services.collections.domain.templates import grouped
from services.collections.settings import CollectionsSettings

log = structlog.get_logger(__name__)


class Undeliverable(Exception):
    """The channel cannot take this notice at all (no address): tried no more."""


@dataclass(frozen=True)
class Notice:
    notice_id: str
    customer_id: str
    channel: Channel
    attempt: int
    step: DunningStepTaken
    customer_name: str
    address: str | None  # the customer's postal address
    country: str | None
    email: str | None
    phone: str | None
    subject: str
    body: str
    language: Language
    message_id: str


class Channels(Protocol):
    async def send(self, notice: Notice) -> str:
        """Send the notice; answers the address it went to. Raises ``Undeliverable`` or any error."""


@dataclass
class RealChannels:
    """Email through SMTP, SMS through the provider's HTTP API, letters for post, calls as tasks."""

    settings: CollectionsSettings
    company: str

    async def send(self, notice: Notice) -> str:
        match notice.channel:
            case "email":
                return await self._email(notice)
            case "sms":
                return await self._sms(notice)
            case "letter":
                return await self._letter(notice)
            case "phone":
                if not notice.phone:
                    raise Undeliverable("no phone number for the billing contact")
                return notice.phone
        raise Undeliverable(f"no channel {notice.channel}")

    async def _email(self, notice: Notice) -> str:
        settings = self.settings
        if not notice.email:
            raise Undeliverable("no email address for the billing contact")
        if not settings.smtp_host:
            raise Undeliverable("no SMTP server is configured (CREDO_COLLECTIONS_SMTP_HOST)")
        message = EmailMessage()
        message["From"] = formataddr((self.company, settings.mail_from))
        message["To"] = formataddr((notice.customer_name, notice.email))
        message["Subject"] = notice.subject
        message["Message-ID"] = notice.message_id
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Content-Language"] = "zh-CN" if notice.language == "zh" else "en"
        message.set_content(notice.body)
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_starttls,
            timeout=20,
        )
        return notice.email

    async def _sms(self, notice: Notice) -> str:
        if not notice.phone:
            raise Undeliverable("no phone number for the billing contact")
        if not self.settings.sms_url:
            raise Undeliverable("no SMS provider is configured (CREDO_COLLECTIONS_SMS_URL)")
        token = self.settings.sms_token.get_secret_value() if self.settings.sms_token else None
        headers = {"Idempotency-Key": notice.notice_id, **({"Authorization": f"Bearer {token}"} if token else {})}
        text = f"{notice.subject}\n" + _sms_totals(notice)
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(
                self.settings.sms_url, json={"id": notice.notice_id, "to": notice.phone, "text": text}, headers=headers
            )
        response.raise_for_status()
        return notice.phone

    async def _letter(self, notice: Notice) -> str:
        """For post: the letter itself is rendered when it is fetched (``Sender.letter``)."""
        if not notice.address:
            raise Undeliverable("no postal address on the credit file")
        return notice.address


def _sms_totals(notice: Notice) -> str:
    joined = ", ".join(f"{grouped(a)} {c}" for c, a in totals(notice.step))
    return ("未付 " if notice.language == "zh" else "Open ") + joined


def render_letter(notice: Notice, company: str, settings: CollectionsSettings) -> bytes:
    """The notice as an A4 letter for post, with the CJK font embedded."""
    pdf = FPDF(format="A4")
    pdf.set_margins(20, 20, 20)
    pdf.add_font("cjk", fname=str(settings.letter_font))
    pdf.add_page()
    pdf.set_font("cjk", size=14)
    pdf.cell(0, 8, company, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    pdf.set_text_color(90, 90, 90)
    pdf.cell(0, 5, notice.step.business_date.isoformat(), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(6)
    pdf.set_font("cjk", size=10)
    pdf.multi_cell(0, 5, f"{notice.customer_name}\n{notice.address or ''}")
    pdf.ln(6)
    pdf.set_font("cjk", size=12)
    pdf.multi_cell(0, 7, notice.subject)
    pdf.ln(2)
    pdf.set_font("cjk", size=10)
    pdf.multi_cell(0, 5.5, notice.body)
    pdf.set_y(-25)
    pdf.set_font("cjk", size=7)
    pdf.set_text_color(110, 110, 110)
    pdf.cell(0, 4, f"{notice.notice_id} · {notice.message_id}", align="C")
    return bytes(pdf.output())


_DUE = """
UPDATE notices SET claimed_until = now() + $2::interval
 WHERE notice_id IN (
       SELECT notice_id FROM notices
        WHERE status = 'pending' AND next_attempt_at <= now() AND (claimed_until IS NULL OR claimed_until < now())
        ORDER BY next_attempt_at, notice_id LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING notice_id, step_id, customer_id, channel, attempts
"""
_ABOUT = """
SELECT s.event, d.legal_name, d.address, d.country,
       (SELECT email FROM contacts c WHERE c.customer_id = s.customer_id AND NOT c.retired AND c.email IS NOT NULL
         ORDER BY c.billing DESC, c.contact_id LIMIT 1) AS email,
       (SELECT phone FROM contacts c WHERE c.customer_id = s.customer_id AND NOT c.retired AND c.phone IS NOT NULL
         ORDER BY c.billing DESC, c.contact_id LIMIT 1) AS phone
  FROM steps s JOIN customers d ON d.customer_id = s.customer_id WHERE s.step_id = $1
"""


class Sender:
    def __init__(
        self,
        parts: handlers.Parts,
        pool: asyncpg.Pool,
        channels: Channels,
        settings: CollectionsSettings,
        *,
        letterhead: Letterhead,
        message_domain: str,
    ) -> None:
        self.parts = parts
        self.pool = pool
        self.channels = channels
        self.settings = settings
        self.letterhead = letterhead
        self.message_domain = message_domain
        self._wake = asyncio.Event()
        self.sent = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        await in_rounds(self._wake, stop, self.send_due, self._until_next, what="notices")

    async def _until_next(self) -> float:
        seconds = await self.pool.fetchval(
            "SELECT extract(epoch FROM min(greatest(next_attempt_at, coalesce(claimed_until, next_attempt_at)))"
            " - now()) FROM notices WHERE status = 'pending'"
        )
        return 30.0 if seconds is None else min(max(float(seconds), 0.05), 30.0)

    async def send_due(self, batch: int = 20) -> int:
        """Send the notices due now; answers how many were tried."""
        claimed = await self.pool.fetch(_DUE, batch, timedelta(seconds=self.settings.claim_seconds))
        for row in claimed:
            await self._send(row)
        return len(claimed)

    async def _notice(self, row: Any, attempt: int) -> Notice | None:
        """A queued notice as it is sent: its step's items in the level's template and the customer's language."""
        about = await self.pool.fetchrow(_ABOUT, row["step_id"])
        if about is None:
            return None
        step = DunningStepTaken.model_validate_json(about["event"])
        async with self.pool.acquire() as conn:
            policy = (await handlers.policy_book(self.parts, conn)).versions[step.policy_version]
        language = language_of(about["country"])
        subject, body = compose(policy, step, language, about["legal_name"], self.letterhead)
        return Notice(
            notice_id=row["notice_id"],
            customer_id=row["customer_id"],
            channel=row["channel"],
            attempt=attempt,
            step=step,
            customer_name=about["legal_name"],
            address=about["address"],
            country=about["country"],
            email=about["email"],
            phone=about["phone"],
            subject=subject,
            body=body,
            language=language,
            message_id=f"<{row['notice_id']}@{self.message_domain}>",
        )

    async def letter(self, notice_id: str) -> bytes | None:
        """A letter sent for post, as a PDF: rendered (off the event loop) the first time it is asked
        for, from its step, and kept; None when no letter went out under that id."""
        kept = await self.pool.fetchval("SELECT pdf FROM letters WHERE notice_id = $1", notice_id)
        if kept is not None:
            return bytes(kept)
        row = await self.pool.fetchrow(
            "SELECT notice_id, step_id, customer_id, channel, attempts, address FROM notices"
            " WHERE notice_id = $1 AND channel = 'letter' AND status = 'sent'",
            notice_id,
        )
        if row is None:
            return None
        notice = await self._notice(row, row["attempts"])
        if notice is None:
            return None
        notice = dataclasses.replace(notice, address=row["address"])  # where it was posted to
        pdf = await asyncio.to_thread(render_letter, notice, self.letterhead.company, self.settings)
        await self.pool.execute(
            "INSERT INTO letters (notice_id, pdf) VALUES ($1, $2) ON CONFLICT DO NOTHING", notice_id, pdf
        )
        return pdf

    async def _send(self, row: Any) -> None:
        attempt = row["attempts"] + 1
        notice = await self._notice(row, attempt)
        if notice is None:
            return
        which = {"customer_id": notice.customer_id, "notice_id": notice.notice_id, "step_id": notice.step.step_id}
        outcome: NoticeSent | NoticeFailed
        try:
            address = await self.channels.send(notice)
            failpoint("notices.after_send")  # the worst moment: sent, not yet recorded
            outcome = NoticeSent(
                **which,
                channel=notice.channel,
                address=address,
                message_id=notice.message_id,
                attempt=attempt,
                language=notice.language,
            )
        except Undeliverable as undeliverable:
            outcome = NoticeFailed(
                **which, channel=notice.channel, reason=str(undeliverable), attempt=attempt, final=True
            )
        except Exception as failure:  # noqa: BLE001 - any failure of the channel is recorded and retried
            outcome = NoticeFailed(
                **which,
                channel=notice.channel,
                reason=f"{type(failure).__name__}: {failure}"[:500],
                attempt=attempt,
                final=attempt >= self.settings.attempts,
            )
        async with self.parts.store.transaction() as conn:
            await handlers.record_delivery(self.parts, conn, outcome)
            if isinstance(outcome, NoticeFailed) and not outcome.final:
                await _retry_at(conn, notice.notice_id, self.settings.retry_seconds * 2 ** (attempt - 1))
        if isinstance(outcome, NoticeSent):
            self.sent += 1
        log.info("notice.delivery", notice=notice.notice_id, outcome=outcome.event_type, attempt=attempt)


async def _retry_at(conn: Connection, notice_id: str, delay: float) -> None:
    await conn.execute(
        "UPDATE notices SET next_attempt_at = now() + make_interval(secs => $2) WHERE notice_id = $1", notice_id, delay
    )
