"""The console as the credit team uses it, in Debian's chromium: a collector logs a call with a promise
and finds it on the customer's page; an analyst's limit request is approved by a credit manager; an
alert appears on the open portfolio page without a reload; Chinese and English; a viewer sees no
action and a request it forges is refused by the service; every page screenshotted at 1,440 by 900 and
checked by axe-core."""

from __future__ import annotations

import json
import re
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

from playwright.async_api import Page, expect

from libs.infra.provision import BrokerHandle
from services.alerts.app import spec as alerts
from services.collections.app import spec as collections
from services.profiles.app import spec as profiles
from services.receivables.app import spec as receivables
from services.scoring.app import spec as scoring
from tests.conftest import NewDatabase
from tests.integration.test_collections import items_known, mailbox, open_file  # noqa: F401 - a fixture
from tests.support.backbone import eventually
from tests.support.console import Console, console_over, screenshot, serious_violations
from tests.support.stack import Service, all_at, erp_invoice, stack

CUSTOMER = "福建闽江贸易有限公司"


async def checked(page: Page, name: str) -> None:
    """The page saved as a screenshot, with no serious accessibility finding."""
    await screenshot(page, name)
    assert await serious_violations(page) == [], name


async def contacts_of(dunning: Service, customer: str) -> list[str]:
    case = await dunning.get(f"/cases/{customer}")
    return [p["promise_id"] for p in case["promises"]]


async def test_the_credit_team_works_the_book_in_the_console(
    new_database: NewDatabase,
    broker: BrokerHandle,
    mailbox: Path,  # noqa: F811 - the fixture
) -> None:
    async with stack(
        new_database, broker, profiles, receivables, scoring, collections, alerts, day="2026-03-01"
    ) as services:
        customer = await open_file(services, CUSTOMER, "K-1")
        await erp_invoice(services["receivables"], "D-1", "INV-1", "10000.00", "2026-03-01")  # due 03-31
        await items_known(services["collections"], 1)
        await all_at(services, "2026-04-10")  # ten days overdue: on the worklist
        march = {"period_start": "2026-03-01", "period_end": "2026-03-31"}
        await services["receivables"].post(f"/customers/{customer}/statements", march, ("ana", "credit_analyst"))

        async def on_worklist() -> bool:
            rows = await services["collections"].get("/worklist")
            return any(r["customer_id"] == customer for r in rows)

        await eventually(on_worklist, what="the customer on the worklist")
        async with console_over(services) as console:
            await collector_promises(console, services, customer)
            await analyst_asks_and_manager_approves(console, customer)
            await viewer_cannot(console, services, customer)
            await alert_arrives_live(console, services, customer)


async def collector_promises(console: Console, services: dict[str, Service], customer: str) -> None:
    context, page = await console.signed_in("mei")
    await page.goto(f"{console.url}/worklist")
    await expect(page.get_by_role("heading", name="催收工作台")).to_be_visible()
    row = page.locator(f"#w-{customer}")
    await expect(row).to_contain_text(CUSTOMER)
    await expect(row).to_contain_text("¥10,000.00")
    await checked(page, "worklist-zh")
    details = page.locator("details", has_text=CUSTOMER)
    await details.locator("summary").click()
    form = details.locator("form.contact")
    await form.locator("select[name=outcome]").select_option("promises_to_pay")
    await form.locator("input[name=promise_amount]").fill("6000.00")
    await form.locator("input[name=promise_date]").fill("2026-04-17")
    await form.locator("input[name=note]").fill("财务说周五付款")
    await form.get_by_role("button", name="保存").click()
    await expect(form.locator(".result")).to_contain_text("已保存")
    await expect(form.locator(".result")).to_contain_text("¥6,000.00")
    plan = details.locator("form.plan")
    await plan.locator("input[name=invoices]").fill("INV-1")
    await plan.locator("textarea[name=instalments]").fill("2026-04-30 5000.00\n2026-05-31 5000.00")
    await plan.get_by_role("button", name="保存").click()
    await expect(plan.locator(".result")).to_contain_text("还款计划")
    assert page.url == f"{console.url}/worklist"  # logged and agreed without leaving the page

    await page.goto(f"{console.url}/customers/{customer}")
    await expect(page.locator("ul.statements")).to_contain_text("(PDF)")
    link = await page.locator("ul.statements a").first.get_attribute("href")
    pdf = await page.request.get(f"{console.url}{link}")  # as the signed-in collector, through the console
    assert pdf.headers["content-type"] == "application/pdf"
    assert (await pdf.body()).startswith(b"%PDF")
    promises = page.locator("#case .promises")
    await expect(promises).to_contain_text("¥6,000.00")
    await expect(promises).to_contain_text("2026年4月17日")
    await expect(page.locator("#case .contacts")).to_contain_text("承诺付款")
    await expect(page.locator("#case .contacts")).to_contain_text("财务说周五付款")
    timeline = page.locator("ol.timeline")
    await expect(timeline).to_contain_text("催收")  # the contact, on one list with the ledger and the file
    await expect(timeline).to_contain_text("发票 INV-1")
    await expect(timeline).to_contain_text("客户建档")
    await checked(page, "customer-zh")
    assert len(await contacts_of(services["collections"], customer)) == 1
    await context.close()


async def analyst_asks_and_manager_approves(console: Console, customer: str) -> None:
    analyst, page = await console.signed_in("li")
    await page.goto(f"{console.url}/customers/{customer}")
    form = page.locator("form", has_text="申请额度")
    await form.locator("input[name=amount]").fill("80000.00")
    await form.locator("input[name=reason]").fill("首次合作，订单稳定")
    await form.get_by_role("button", name="提交").click()
    await expect(page.locator(".result").first).to_contain_text("已记录")
    terms = page.locator("form.terms")
    await terms.locator("input[name=credit_days]").fill("45")
    await terms.locator("input[name=discount_percent]").fill("2")
    await terms.locator("input[name=discount_days]").fill("10")
    await terms.locator("input[name=reason]").fill("按时付款，给予现金折扣")
    await terms.get_by_role("button", name="提交").click()
    await expect(page.locator(".result").last).to_contain_text("已记录")
    await analyst.close()

    manager, page = await console.signed_in("wang", locale="en")
    await page.goto(f"{console.url}/approvals")
    request = page.locator(".request", has_text="CN¥80,000.00")
    await expect(request).to_contain_text(CUSTOMER)
    await expect(request).to_contain_text("首次合作，订单稳定")
    await expect(request).to_contain_text("Recommended limit")
    await checked(page, "approvals-en")
    await request.locator("input[name=note]").fill("references good")
    await request.get_by_role("button", name="Approve or endorse").click()
    await expect(request.locator(".result")).to_contain_text("LimitApproved")
    terms = page.locator(".request", has_text="Terms 45 days")
    await expect(terms).to_contain_text("Discount 2.00 % / 10 days")
    await expect(terms).to_contain_text("按时付款，给予现金折扣")
    await terms.get_by_role("button", name="Approve or endorse").click()
    await expect(terms.locator(".result")).to_contain_text("CreditTermsSet")

    await page.goto(f"{console.url}/customers/{customer}")
    await expect(page.locator("dd", has_text="CN¥80,000.00").first).to_be_visible()
    await expect(page.locator("dd", has_text="45 days").first).to_be_visible()
    await checked(page, "customer-en")
    await manager.close()


async def viewer_cannot(console: Console, services: dict[str, Service], customer: str) -> None:
    context, page = await console.signed_in("guest", locale="en")
    await page.goto(f"{console.url}/worklist")
    await expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    await expect(page.locator(f"#w-{customer}")).to_contain_text(CUSTOMER)
    assert await page.locator("form.contact").count() == 0  # no action it cannot take
    await page.goto(f"{console.url}/approvals")
    assert await page.locator("form.decision").count() == 0

    # A request forged with the page's own CSRF token reaches the service, which refuses it.
    csrf = json.loads(await page.locator("body").get_attribute("hx-headers") or "{}")["X-CSRF-Token"]
    before = await contacts_of(services["collections"], customer)
    forged = await page.request.post(
        f"{console.url}/worklist/{customer}/contacts",
        form={"csrf": csrf, "channel": "call", "outcome": "refuses", "form_key": "forged-1"},
        headers={"HX-Request": "true"},
    )
    assert forged.status == 403
    said = await forged.text()
    assert "Your role may not do this" in said  # what the refusal means, in the page's language
    assert "collector" in said  # and the service's own words
    assert await contacts_of(services["collections"], customer) == before

    # Without the session's CSRF token, the console itself refuses.
    no_token = await page.request.post(
        f"{console.url}/worklist/{customer}/contacts", form={"channel": "call", "outcome": "refuses", "form_key": "x"}
    )
    assert no_token.status == 403
    await context.close()


async def alert_arrives_live(console: Console, services: dict[str, Service], customer: str) -> None:
    context, page = await console.signed_in("wang")
    await expect(page.get_by_role("heading", name=re.compile("组合概览"))).to_be_visible()
    await expect(page.locator("#live-alerts")).not_to_contain_text("item-overdue")
    await expect(page.locator("#kpis table")).to_contain_text("2026-03")  # loaded after the page, by htmx
    grade_e = page.locator("table.grades tr", has_text=re.compile(r"^\s*E"))
    await expect(grade_e).to_contain_text("¥10,000.00")  # the customer's exposure, under its grade
    await expect(page.locator("dl.against")).to_contain_text("¥80,000.00")  # the limit just approved
    await checked(page, "portfolio-zh")
    await page.evaluate("window.__same_page = true")

    await all_at(services, "2026-05-31")  # INV-1 is 61 days past due: the item-overdue rule raises
    await expect(page.locator("#live-alerts li", has_text="item-overdue")).to_be_visible(timeout=60_000)
    assert await page.evaluate("window.__same_page === true")  # no reload
    await expect(page.locator("#live-alerts li", has_text="item-overdue")).to_contain_text(CUSTOMER)

    await page.goto(f"{console.url}/alerts")
    await expect(page.locator("tr", has_text="item-overdue")).to_be_visible()
    await checked(page, "alerts-zh")
    await page.goto(f"{console.url}/policy")
    what_if = page.locator("form", has_text="等级下限 A")
    score = Decimal((await services["scoring"].get(f"/customers/{customer}/credit"))["score"])
    assert score < 35  # an E under the floors in force
    floor = str(score.to_integral_value(ROUND_FLOOR) - 3)  # up a grade at the floor plus its band of 2
    await what_if.locator("input[name=floor_d]").fill(floor)  # the customer would be a D, not an E
    await what_if.get_by_role("button", name="运行").click()
    grade_d = page.locator("#scoring-what-if tr", has_text=re.compile(r"^\s*D"))
    await expect(grade_d.locator("td").nth(1)).to_have_text("0")
    await expect(grade_d.locator("td").nth(2)).to_have_text("1")
    await checked(page, "policy-zh")
    await page.goto(f"{console.url}/customers")
    await checked(page, "customers-zh")
    await context.close()
