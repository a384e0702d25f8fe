"""Alerts delivered, on the real backbone: a webhook receiver (a real local HTTP server) failing and
then succeeding, every attempt recorded and signed with the same id; a receiver that keeps failing
paused and resumed; email through a real SMTP server; the live stream resumed with Last-Event-ID
and filtered by portfolio; escalation as the clock moves; a dead letter raising an operations alert."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from httpx_sse import aconnect_sse

from contracts import erp as erp_documents
from libs.infra.embedded import free_port
from libs.infra.mailbox import messages, smtp_server
from libs.infra.provision import BrokerHandle
from services.alerts.app import spec as alerts
from services.collections.app import spec as collections
from services.profiles.app import spec as profiles
from services.scoring.app import spec as scoring
from tests.conftest import NewDatabase
from tests.integration.test_profiles_erp import _send, master
from tests.support.backbone import eventually
from tests.support.serving import bearer
from tests.support.stack import Service, all_at, known_everywhere, stack

ANA = ("ana", "credit_analyst")
WANG = ("wang", "credit_manager")
MEI = ("mei", "collector")
KEY = "test-signing-key"


class Receiver:
    """A webhook receiver that answers 500 to its first ``failures`` requests."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        if len(self.requests) <= self.failures:
            return web.json_response({"error": "down for maintenance"}, status=500)
        return web.json_response({"ok": True})


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


@pytest.fixture
def mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "mail"
    port = free_port()
    controller = smtp_server(folder, port)
    monkeypatch.setenv("CREDO_ALERTS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CREDO_ALERTS_SMTP_PORT", str(port))
    monkeypatch.setenv("CREDO_ALERTS_RETRY_SECONDS", "0.2")
    monkeypatch.setenv("CREDO_ALERTS_PAUSE_AFTER", "3")
    monkeypatch.setenv("CREDO_ALERTS_SIGNING_KEY", KEY)
    try:
        yield folder
    finally:
        controller.stop()


def verifies(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does: recompute the signature over the timestamp and the body."""
    parts = dict(p.split("=", 1) for p in headers["Credo-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 300


async def a_customer(services: dict[str, Service], name: str, number: str) -> str:
    registration = {"scheme": "OTHER", "number": number, "country": "CN"}
    opened = await services["profiles"].post("/customers", {"legal_name": name, "registration": registration}, ANA)
    customer: str = opened["customer_id"]
    await known_everywhere(services, customer)
    return customer


async def test_a_webhook_failing_then_succeeding_gets_every_attempt_signed_with_one_id_and_email_goes_by_smtp(
    new_database: NewDatabase, broker: BrokerHandle, mailbox: Path
) -> None:
    flaky, broken = Receiver(failures=2), Receiver(failures=1000)
    async with (
        receiving(flaky) as flaky_url,
        receiving(broken) as broken_url,
        stack(new_database, broker, profiles, scoring, alerts, day="2026-06-01") as services,
    ):
        credit, warnings = services["scoring"], services["alerts"]
        erp = await warnings.post(
            "/subscriptions", {"to": {"channel": "webhook", "address": flaky_url}, "severities": ["warning"]}, WANG
        )
        assert erp["secret"].startswith("whsec_")
        secret = await warnings.get_as(f"/subscriptions/{erp['subscription_id']}/secret", WANG)
        assert secret["secret"] == erp["secret"]
        chat = await warnings.post("/subscriptions", {"to": {"channel": "webhook", "address": broken_url}}, WANG)
        mail = {"to": {"channel": "email", "address": "ana@credo.example"}, "audience": {"role": "credit_analyst"}}
        by_mail = await warnings.post("/subscriptions", mail, WANG)
        # Anyone else subscribes only their own email to their own alerts.
        theirs = await warnings.send("/subscriptions", {**mail, "audience": {"role": "credit_manager"}}, MEI)
        assert theirs.status_code == 403, theirs.text
        wrong = await warnings.send("/subscriptions", {"to": {"channel": "email", "address": "not-an-address"}}, WANG)
        assert wrong.status_code == 422, wrong.text
        assert "address" in wrong.text
        unknown = await warnings.send("/subscriptions", {**mail, "rules": ["moon-phase"]}, WANG)
        assert unknown.status_code == 422, unknown.text
        assert "moon-phase" in unknown.text

        customer = await a_customer(services, "福建闽江贸易有限公司", "REG-1")
        await credit.post(f"/customers/{customer}/holds", {"reason": "逾期六十天"}, WANG)

        async def delivered() -> bool:
            return len(flaky.requests) == 3

        await eventually(delivered, what="the third attempt delivered")
        ids = {headers["Credo-Delivery-Id"] for headers, _ in flaky.requests}
        assert len(ids) == 1  # the same id on every attempt: the receiver deduplicates on it
        for headers, body in flaky.requests:
            assert verifies(erp["secret"], headers, body)
            assert not verifies(chat["secret"], headers, body)
        sent = json.loads(flaky.requests[-1][1])
        assert (sent["type"], sent["customer_id"], sent["id"]) == ("alerts.AlertRaised", customer, ids.pop())
        assert sent["data"]["rule_id"] == "hold-placed"

        async def recorded() -> bool:
            return bool((await warnings.get_as(f"/subscriptions/{erp['subscription_id']}", WANG))["delivered"] == 1)

        await eventually(recorded, what="the delivery recorded")
        view = await warnings.get_as(f"/subscriptions/{erp['subscription_id']}", WANG)
        assert (view["state"], view["waiting"], view["failures"]) == ("active", 0, 0)
        assert [(a["attempt"], a["delivered"], a["status"]) for a in reversed(view["attempts"])] == [
            (1, False, 500),
            (2, False, 500),
            (3, True, 200),
        ]

        # The receiver that keeps failing is paused after three attempts in a row, and says so.
        async def paused() -> bool:
            return bool((await warnings.get_as(f"/subscriptions/{chat['subscription_id']}", WANG))["state"] == "paused")

        await eventually(paused, what="the failing receiver paused")
        stalled = await warnings.get_as(f"/subscriptions/{chat['subscription_id']}", WANG)
        assert (stalled["failures"], stalled["waiting"]) == (3, 1)
        assert "HTTP 500" in stalled["last_error"]
        await asyncio.sleep(1.0)
        assert len(broken.requests) == 3  # nothing more is tried while paused
        broken.failures = 0  # mended: resumed, what waited is delivered
        await warnings.post(f"/subscriptions/{chat['subscription_id']}/resumption", {}, WANG)

        async def caught_up() -> bool:
            return bool((await warnings.get_as(f"/subscriptions/{chat['subscription_id']}", WANG))["delivered"] == 1)

        await eventually(caught_up, what="the resumed receiver served")
        assert len({h["Credo-Delivery-Id"] for h, _ in broken.requests}) == 1

        # The email to the analysts, through the SMTP server, with why the alert fired.
        async def mailed() -> bool:
            return len(messages(mailbox)) == 1

        await eventually(mailed, what="the alert emailed")
        (message,) = messages(mailbox)
        assert message["to"] == "ana@credo.example"
        assert "新预警" in message["subject"]
        assert "福建闽江贸易有限公司" in message["subject"]
        text = await asyncio.to_thread(lambda: next(mailbox.glob("*.eml")).read_text())
        assert "hold-placed" in text
        assert (await warnings.get_as(f"/subscriptions/{by_mail['subscription_id']}", WANG))["delivered"] == 1


class Listener:
    """An SSE client of the alerts stream, as a dashboard is: it keeps what it receives."""

    def __init__(self, service: Service, who: tuple[str, str], last_event_id: str | None = None) -> None:
        self.received: list[tuple[str, str, dict[str, Any]]] = []  # id, event, alert
        headers = {**bearer(who[1], subject=who[0]), **({"Last-Event-ID": last_event_id} if last_event_id else {})}
        self._task = asyncio.create_task(self._listen(service, headers))
        self.connected = asyncio.Event()

    async def _listen(self, service: Service, headers: dict[str, str]) -> None:
        async with (
            httpx.AsyncClient(base_url=str(service.http.base_url), timeout=None) as client,
            aconnect_sse(client, "GET", "/alerts/stream", headers=headers) as source,
        ):
            source.response.raise_for_status()
            self.connected.set()
            async for event in source.aiter_sse():
                if not event.event.startswith("Alert"):
                    continue  # a keep-alive
                self.received.append((event.id, event.event, json.loads(event.data)))

    async def ready(self) -> Listener:
        await asyncio.wait_for(self.connected.wait(), 10)
        await asyncio.sleep(0.3)  # its starting position read
        return self

    def seen(self) -> list[tuple[str, str]]:
        return [(event, alert["customer_id"]) for _, event, alert in self.received]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_the_live_stream_resumes_after_its_last_event_id_shows_a_collector_only_her_portfolio_and_escalates(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with stack(new_database, broker, profiles, scoring, collections, alerts, day="2026-06-01") as services:
        credit, cases, warnings = services["scoring"], services["collections"], services["alerts"]
        hers = await a_customer(services, "厦门鹭岛电子有限公司", "REG-A")
        other = await a_customer(services, "泉州刺桐纺织有限公司", "REG-B")
        assigned = await cases.http.put(
            f"/cases/{hers}/collector", json={"collector": "mei"}, headers=bearer("credit_manager", subject="wang")
        )
        assert assigned.status_code == 200, assigned.text

        async def in_portfolio() -> bool:
            found = await warnings.kit.pool.fetchval("SELECT count(*) FROM portfolios WHERE collector = 'mei'")
            return bool(found == 1)

        await eventually(in_portfolio, what="mei's portfolio known to alerts")
        rules = (await warnings.get("/rules"))["rules"]
        faster = [
            {**r, "acknowledge_within_days": 1, "notify": "collector"} if r["rule_id"] == "hold-placed" else r
            for r in rules
        ]
        await warnings.post("/rules", {"rules": faster, "reason": "冻结一天内须确认"}, WANG)

        manager = await Listener(warnings, WANG).ready()
        collector = await Listener(warnings, MEI).ready()
        await credit.post(f"/customers/{other}/holds", {"reason": "担保到期"}, WANG)
        await credit.post(f"/customers/{hers}/holds", {"reason": "逾期"}, WANG)

        async def both_seen() -> bool:
            return len(manager.received) == 2

        await eventually(both_seen, what="the manager's stream with both alerts")
        assert sorted(manager.seen()) == sorted([("AlertRaised", other), ("AlertRaised", hers)])
        await asyncio.sleep(0.5)
        assert collector.seen() == [("AlertRaised", hers)]  # never another portfolio's
        last_id = manager.received[-1][0]
        await manager.close()

        # While the manager is away: a repeat, and the next day the unacknowledged alerts escalate.
        await credit.post(f"/customers/{hers}/holds", {"reason": "再次逾期"}, WANG)
        await all_at(services, "2026-06-02")
        back = await Listener(warnings, WANG, last_event_id=last_id).ready()

        async def missed() -> bool:
            return len(back.received) == 3

        await eventually(missed, what="what the manager missed")
        assert sorted(back.seen()) == sorted(
            [("AlertRepeated", hers), ("AlertEscalated", other), ("AlertEscalated", hers)]
        )
        assert all(int(i) > int(last_id) for i, _, _ in back.received)
        escalated = {alert["customer_id"]: alert for _, event, alert in back.received if event == "AlertEscalated"}
        assert (escalated[hers]["notify"], escalated[hers]["level"]) == ("credit_manager", 1)
        await asyncio.sleep(0.5)
        assert [e for e, c in collector.seen() if c != hers] == []
        refused = await warnings.http.get("/alerts/stream", headers={**bearer("viewer"), "Last-Event-ID": "x"})
        assert refused.status_code == 422, refused.text
        await back.close()
        await collector.close()


async def test_a_dead_letter_on_any_service_raises_its_operations_alert(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with stack(new_database, broker, profiles, alerts, day="2026-06-01") as services:
        files, warnings = services["profiles"], services["alerts"]
        settings = files.settings
        topic = settings.topic_name(erp_documents.CUSTOMERS)
        await _send(settings.kafka_bootstrap_servers, topic, master("K-9", 1, legal_name=None))
        (raised,) = await eventually_alerts(warnings, 1)
        assert (raised["customer_id"], raised["rule_id"], raised["severity"], raised["notify"]) == (
            "OPERATIONS-profiles",
            "dead-letter",
            "critical",
            "admin",
        )
        facts = {f["name"]: f["value"] for f in raised["facts"]}
        assert facts["service"] == "profiles"
        assert facts["consumer"] == "profiles.erp-customers"
        assert "legal_name" in facts["reason"]
        assert facts["message"].startswith(f"{topic}/")
        await _send(settings.kafka_bootstrap_servers, topic, master("K-8", 1, legal_name=None))

        async def repeated() -> bool:
            return bool((await warnings.get(f"/alerts/{raised['alert_id']}"))["count"] == 2)

        await eventually(repeated, what="the second dead letter counted on the same alert")


async def eventually_alerts(warnings: Service, count: int) -> list[dict[str, Any]]:
    async def arrived() -> bool:
        return len(await warnings.get("/alerts")) == count

    await eventually(arrived, what=f"{count} open alerts")
    found: list[dict[str, Any]] = await warnings.get("/alerts")
    return found
