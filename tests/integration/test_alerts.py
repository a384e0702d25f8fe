"""alerts on the real backbone: a rule raising on its event with the facts and the id of the event
that carried them, a repeat raising the count, the lifecycle with who may close an alert, and the
rule set's versions with bad rules refused."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from libs.infra.provision import BrokerHandle
from services.alerts.app import spec as alerts
from services.profiles.app import spec as profiles
from services.scoring.app import spec as scoring
from tests.conftest import NewDatabase
from tests.support.backbone import eventually
from tests.support.serving import bearer
from tests.support.stack import Service, known_everywhere, stack

ANA = ("ana", "credit_analyst")
WANG = ("wang", "credit_manager")
MEI = ("mei", "collector")
LI = ("li", "collector")


async def open_alerts(warnings: Service, count: int) -> list[dict[str, Any]]:
    async def arrived() -> bool:
        return len(await warnings.get("/alerts")) == count

    await eventually(arrived, what=f"{count} open alerts")
    found: list[dict[str, Any]] = await warnings.get("/alerts")
    return found


async def test_a_hold_raises_an_alert_with_its_reason_a_repeat_counts_and_only_the_assignee_resolves(
    new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with stack(new_database, broker, profiles, scoring, alerts, day="2026-06-01") as services:
        files, credit, warnings = services["profiles"], services["scoring"], services["alerts"]
        registration = {"scheme": "OTHER", "number": "REG-1", "country": "CN"}
        opened = await files.post(
            "/customers", {"legal_name": "福建闽江贸易有限公司", "registration": registration}, ANA
        )
        customer = opened["customer_id"]
        await known_everywhere(services, customer)

        await credit.post(f"/customers/{customer}/holds", {"reason": "逾期六十天"}, WANG)
        (raised,) = await open_alerts(warnings, 1)
        assert (raised["rule_id"], raised["rule_version"], raised["severity"], raised["status"], raised["count"]) == (
            "hold-placed",
            1,
            "warning",
            "raised",
            1,
        )
        assert raised["legal_name"] == "福建闽江贸易有限公司"
        facts = {f["name"]: f["value"] for f in raised["facts"]}
        assert (facts["reason"], facts["by"]) == ("逾期六十天", "wang")
        # The fact names the event that carried it: scoring's CreditHoldPlaced, by its id.
        scoring_db = await asyncpg.connect(credit.settings.database_url)
        try:
            held = await scoring_db.fetchval(
                "SELECT event_id::text FROM events WHERE event_type = 'scoring.CreditHoldPlaced'"
            )
        finally:
            await scoring_db.close()
        assert {(f["event_id"], f["event_type"]) for f in raised["facts"]} == {(held, "scoring.CreditHoldPlaced")}

        # A second hold repeats the open alert: its count, never a second alert.
        await credit.post(f"/customers/{customer}/holds", {"reason": "破产传闻"}, WANG)

        async def counted() -> bool:
            return bool((await warnings.get(f"/alerts/{raised['alert_id']}"))["count"] == 2)

        await eventually(counted, what="the repeat counted")
        assert len(await warnings.get("/alerts")) == 1
        alert_id = raised["alert_id"]

        viewer = await warnings.http.post(f"/alerts/{alert_id}/acknowledgement", json={}, headers=bearer("viewer"))
        assert viewer.status_code == 403, viewer.text
        assert (await warnings.post(f"/alerts/{alert_id}/acknowledgement", {"note": "看到了"}, ANA))["status"] == (
            "acknowledged"
        )
        assigned = await warnings.post(f"/alerts/{alert_id}/assignment", {"to": "mei"}, WANG)
        assert (assigned["status"], assigned["assignee"]) == ("assigned", "mei")
        not_hers = await warnings.send(f"/alerts/{alert_id}/resolution", {"note": "我来处理"}, ANA)
        assert not_hers.status_code == 403, not_hers.text
        assert "only its assignee or a credit manager resolves it" in not_hers.json()["detail"]
        # Another collector does not see it: the customer is not in her portfolio, nor is it hers.
        unseen = await warnings.send(f"/alerts/{alert_id}/resolution", {"note": "我来处理"}, LI)
        assert unseen.status_code == 404, unseen.text
        resolved = await warnings.post(f"/alerts/{alert_id}/resolution", {"note": "客户已付款，解除"}, MEI)
        assert (resolved["status"], resolved["closed_by"], resolved["closed_note"]) == (
            "resolved",
            "mei",
            "客户已付款，解除",
        )
        assert [h["event"] for h in resolved["history"]] == [
            "AlertRaised",
            "AlertRepeated",
            "AlertAcknowledged",
            "AlertAssigned",
            "AlertResolved",
        ]
        assert await warnings.get("/alerts") == []

        # A new version of the rules: a hold is critical now, and a new hold raises a new alert.
        rules = (await warnings.get("/rules"))["rules"]
        unknown = [{**rules[0], "threshold": 3}, *rules[1:]]
        refused = await warnings.send("/rules", {"rules": unknown, "reason": "试一试"}, WANG)
        assert refused.status_code == 422, refused.text
        assert "threshold" in refused.text
        twice = await warnings.send("/rules", {"rules": [*rules, rules[1]], "reason": "试一试"}, WANG)
        assert twice.status_code == 422, twice.text
        assert f"rules[{len(rules)}].rule_id" in twice.text
        assert (await warnings.send("/rules", {"rules": rules, "reason": "x"}, MEI)).status_code == 403
        critical = [{**r, "severity": "critical"} if r["rule_id"] == "hold-placed" else r for r in rules]
        released = await warnings.post("/rules", {"rules": critical, "reason": "冻结即严重"}, WANG)
        assert (released["version"], released["released_by"]) == (2, "wang")
        await credit.post(f"/customers/{customer}/holds", {"reason": "第三次"}, WANG)
        (again,) = await open_alerts(warnings, 1)
        assert again["alert_id"] != alert_id
        assert (again["rule_version"], again["severity"], again["count"]) == (2, "critical", 1)

        # The backtest of the rules in force over the day reproduces the first alert, facts and event
        # ids alike; nobody closes an alert in a replay, so the later holds are its repeats.
        replayed = await warnings.post("/rules/what-if", {"from": "2026-06-01", "to": "2026-06-01"}, WANG)
        holds = {r["rule_id"]: r for r in replayed["rules"]}["hold-placed"]
        assert (holds["alerts"], holds["repeats"], holds["customers"], holds["recorded"]) == (1, 2, 1, 2)
        assert replayed["weeks"] == [{"week": "2026-06-01", "rule_id": "hold-placed", "alerts": 1}]
        (first,) = replayed["alerts"]
        alerts_db = await asyncpg.connect(warnings.settings.database_url)
        try:
            raised_data = await alerts_db.fetchval(
                "SELECT data::text FROM events WHERE event_type = 'alerts.AlertRaised' ORDER BY position LIMIT 1"
            )
        finally:
            await alerts_db.close()
        assert first["facts"] == json.loads(raised_data)["facts"]
        assert (first["customer_id"], first["legal_name"]) == (customer, "福建闽江贸易有限公司")
        # A proposed set without the rule raises nothing; a period after today is refused, naming it.
        quiet = [r for r in critical if r["rule_id"] != "hold-placed"]
        proposed = await warnings.post(
            "/rules/what-if", {"rules": quiet, "from": "2026-06-01", "to": "2026-06-01"}, WANG
        )
        assert proposed["total_alerts"] == 0
        late = await warnings.send("/rules/what-if", {"from": "2026-06-01", "to": "2026-06-02"}, WANG)
        assert late.status_code == 422, late.text
        assert "to: 2026-06-02 is after today" in late.json()["detail"]
        assert (
            await warnings.send("/rules/what-if", {"from": "2026-06-01", "to": "2026-06-01"}, MEI)
        ).status_code == 403
