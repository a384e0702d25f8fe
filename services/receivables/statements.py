"""Statements of account (对账函): a document for the customer, computed from the account's events
up to a pinned stream version, so that the same statement gives the same bytes today or in ten
years. It says what the customer owes: their invoices, credit notes and payments in the period
with the running balance, the open items at the period's end with their due dates and an aging
summary, where to pay, and a reply slip to confirm or dispute the balance. It carries nothing
internal: no write-offs (what is written off is still owed), no user names, no internal codes.

The PDF embeds a CJK font so Chinese names and text render anywhere; it is rendered once and kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

from libs.events.contracts import DomainEvent, Money, to_minor_unit
from services.receivables import domain
from services.receivables.events import Issuer, PaymentReceived
from services.receivables.settings import DEFAULT_FONT

METHODS = {
    "bank_transfer": "银行转账 bank transfer",
    "bank_acceptance": "银行承兑汇票 bank acceptance bill",
    "commercial_acceptance": "商业承兑汇票 commercial acceptance bill",
    "cash": "现金 cash",
    "cheque": "支票 cheque",
    "card": "银行卡 card",
}


@dataclass(frozen=True)
class Heading:
    """Whom a statement is from and to, for which period and ledger point, as its StatementIssued
    event records it. The same heading and events give the same document, whenever it is made."""

    customer_id: str
    customer_name: str
    customer_address: str | None
    issuer: Issuer | None
    period_start: date
    period_end: date
    ledger_version: int


def amount_text(value: Decimal, currency: str) -> str:
    return format(to_minor_unit(value, currency), "f")


def statement_document(heading: Heading, events: Sequence[DomainEvent]) -> dict[str, Any]:
    """``events`` are the account's events in order; the first ``ledger_version`` are the statement's."""
    known = list(events[: heading.ledger_version])
    account = domain.fold(known, domain.Account(customer_id=heading.customer_id))
    numbers = {i.invoice_id: i.number for i in account.invoices.values()}
    payments = {e.payment_id: e for e in known if isinstance(e, PaymentReceived)}
    lines: dict[str, list[tuple[int, int, domain.Movement]]] = {}
    for version, event in enumerate(known, start=1):
        for number, movement in enumerate(domain.movements(event)):
            if movement.kind not in domain.INTERNAL and movement.entry_date <= heading.period_end:
                lines.setdefault(movement.currency, []).append((version, number, movement))
    at_end = domain.account_as_of(known, heading.customer_id, heading.period_end, date.max)
    items = domain.open_items(at_end)
    currencies = []
    for currency in sorted(lines.keys() | {i.currency for i in items}):
        ordered = sorted(lines.get(currency, []), key=lambda item: (item[2].entry_date, item[0], item[1]))
        opening = sum((m.amount for _, _, m in ordered if m.entry_date < heading.period_start), domain.ZERO)
        balance, rows = opening, []
        for _, _, m in ordered:
            if m.entry_date < heading.period_start:
                continue
            balance += m.amount
            rows.append(
                {
                    "date": m.entry_date.isoformat(),
                    "description": _description(m, numbers),
                    "reference": _reference(m, numbers, payments),
                    "debit": amount_text(m.amount, currency) if m.amount > 0 else None,
                    "credit": amount_text(-m.amount, currency) if m.amount < 0 else None,
                    "balance": amount_text(balance, currency),
                }
            )
        open_here = sorted((i for i in items if i.currency == currency), key=lambda i: (i.due_date, i.number))
        if not rows and not open_here and opening == balance == 0:
            continue  # nothing in this currency to tell the customer
        aged = domain.age(open_here, heading.period_end).get(currency, {})
        currencies.append(
            {
                "currency": currency,
                "opening_balance": amount_text(opening, currency),
                "lines": rows,
                "closing_balance": amount_text(balance, currency),
                "open_items": [
                    {
                        "invoice": i.number,
                        "issue_date": i.issue_date.isoformat(),
                        "due_date": i.due_date.isoformat(),
                        "open": amount_text(i.amount, currency),
                        "days_overdue": max((heading.period_end - i.due_date).days, 0),
                    }
                    for i in open_here
                ],
                "aging": {label: amount_text(a, currency) for label, a in aged.items()},
            }
        )
    issuer = heading.issuer.model_dump(mode="json") if heading.issuer else None
    return {
        "issuer": issuer,
        "customer": {
            "customer_id": heading.customer_id,
            "legal_name": heading.customer_name,
            "address": heading.customer_address,
        },
        "period": {"start": heading.period_start.isoformat(), "end": heading.period_end.isoformat()},
        "ledger_version": heading.ledger_version,
        "currencies": currencies,
    }


def _invoice(invoice_id: str | None, numbers: dict[str, str]) -> str:
    return numbers.get(invoice_id or "", invoice_id or "")


def _description(m: domain.Movement, numbers: dict[str, str]) -> str:
    invoice = _invoice(m.invoice_id, numbers)
    match m.kind:
        case "invoice":
            return "销售发票 Invoice" + (f" · 订单 order {m.detail}" if m.detail else "")
        case "adjustment":
            return f"发票更正 Invoice corrected · {invoice}"
        case "credit_note":
            return "贷项通知单 Credit note" + (f" · 发票 invoice {invoice}" if m.invoice_id else "")
        case "payment":
            return "收款 Payment received" + (
                f" · {METHODS.get(m.detail, m.detail.replace('_', ' '))}" if m.detail else ""
            )
        case "discount":
            return f"现金折扣 Cash discount · 发票 invoice {invoice}"
        case "discount_reversal":
            return f"现金折扣冲回 Cash discount withdrawn · 发票 invoice {invoice}"
        case "payment_reversal":
            return "付款退回 Payment returned unpaid"
        case "refund":
            return "退款 Refund to you"
        case "recovery":
            return f"收款 Payment received · 发票 invoice {invoice}"
    return m.kind.replace("_", " ")


def _reference(m: domain.Movement, numbers: dict[str, str], payments: dict[str, PaymentReceived]) -> str:
    if m.kind in ("payment", "payment_reversal"):
        paid = payments.get(m.reference)
        return (paid.payer_reference or "") if paid else ""
    if m.kind in ("invoice", "credit_note"):
        return m.reference
    return _invoice(m.invoice_id, numbers)


def closing_balances(document: dict[str, Any]) -> list[Money]:
    return [Money.of(c["closing_balance"], c["currency"]) for c in document["currencies"]]


def render_json(document: dict[str, Any]) -> bytes:
    """The canonical bytes of a statement: what the digest is taken of."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(render_json(document)).hexdigest()


# -- the PDF --------------------------------------------------------------------------------------------


class FontMissing(RuntimeError):
    pass


def grouped(text: str | None) -> str:
    """An amount with thousands separators, as printed: 1234567.8 -> 1,234,567.80."""
    if text is None:
        return ""
    value = Decimal(text)
    exponent = value.as_tuple().exponent
    places = max(-exponent, 0) if isinstance(exponent, int) else 2
    return f"{value:,.{places}f}"


class _Letter(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("cjk", size=7)
        self.set_text_color(110, 110, 110)
        self.cell(
            0,
            5,
            f"{self.footer_text}    第 {self.page_no()} 页 / 共 {{nb}} 页  Page {self.page_no()} of {{nb}}",
            align="C",
        )
        self.set_text_color(0, 0, 0)


def render_pdf(document: dict[str, Any], statement_id: str, issued_on: date, font: Path = DEFAULT_FONT) -> bytes:
    if not font.is_file():
        raise FontMissing(f"the statement font {font} is not installed (Debian package fonts-wqy-microhei)")
    issuer = document["issuer"] or {}
    customer, period = document["customer"], document["period"]
    pdf = _Letter(orientation="P", unit="mm", format="A4")
    pdf.set_creation_date(_midnight(issued_on))  # the same bytes every time
    pdf.set_title(f"对账函 Statement of account {statement_id}")
    pdf.set_author(issuer.get("name", ""))
    pdf.add_font("cjk", fname=str(font), collection_font_number=0)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.footer_text = f"{issuer.get('name', '')} · {statement_id}"
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font("cjk", size=14)
    pdf.cell(0, 8, issuer.get("name", ""), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8)
    for part in (issuer.get("address"), issuer.get("phone") and f"电话 Tel. {issuer['phone']}"):
        if part:
            pdf.cell(0, 4.5, part, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("cjk", size=16)
    pdf.cell(0, 9, "对 账 函   Statement of Account", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("cjk", size=9)
    left = [f"致 To: {customer['legal_name']}", customer.get("address") or ""]
    right = [
        f"编号 No.: {statement_id}",
        f"日期 Date: {issued_on.isoformat()}",
        f"期间 Period: {period['start']} – {period['end']}",
    ]
    top = pdf.get_y()
    for text in left:
        pdf.set_x(pdf.l_margin)
        pdf.multi_cell(110, 5, text, new_x="LMARGIN", new_y="NEXT")
    bottom = pdf.get_y()
    pdf.set_y(top)
    for text in right:
        pdf.set_x(pdf.l_margin + 115)
        pdf.cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(bottom, pdf.get_y()) + 3)
    pdf.multi_cell(
        0,
        5,
        f"截至 {period['end']}，贵公司在我司的往来账款如下，请核对。如无误，请在回执上盖章确认；"
        "如有不符，请注明差异后寄回。\n"
        f"Our books show the account below as at {period['end']}. Please check it against yours and return the "
        "reply slip, confirmed and stamped, or with the differences.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    for section in document["currencies"]:
        _currency_section(pdf, section)
    if not document["currencies"]:
        pdf.ln(4)
        pdf.cell(
            0,
            6,
            "本期无往来，余额为零。 No movements in the period; the balance is nil.",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    _bank_details(pdf, issuer)
    _reply_slip(pdf, document, statement_id)
    return bytes(pdf.output())


def _currency_section(pdf: FPDF, section: dict[str, Any]) -> None:
    currency = section["currency"]
    pdf.ln(4)
    pdf.set_font("cjk", size=10)
    pdf.cell(0, 6, f"币种 Currency: {currency}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=7.5)
    heading = FontFace(emphasis="NONE", fill_color=(232, 236, 241))
    with pdf.table(
        col_widths=(20, 72, 30, 23, 23, 24),
        text_align=("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=heading,
        line_height=4.6,
    ) as table:
        table.row(["日期 Date", "摘要 Description", "单号 Reference", "借方 Debit", "贷方 Credit", "余额 Balance"])
        table.row(["", "期初余额 Opening balance", "", "", "", grouped(section["opening_balance"])])
        for line in section["lines"]:
            table.row(
                [
                    line["date"],
                    line["description"],
                    line["reference"],
                    grouped(line["debit"]),
                    grouped(line["credit"]),
                    grouped(line["balance"]),
                ]
            )
        table.row(
            ["", "期末余额 Closing balance (您欠我司 you owe us)", "", "", "", grouped(section["closing_balance"])]
        )
    if section["open_items"]:
        pdf.ln(2)
        pdf.set_font("cjk", size=8.5)
        pdf.cell(0, 5, "未结清发票 Open invoices", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=7.5)
        with pdf.table(
            col_widths=(40, 30, 30, 40, 30),
            text_align=("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT"),
            headings_style=heading,
            line_height=4.6,
        ) as table:
            table.row(
                ["发票号 Invoice", "开票日期 Invoice date", "到期日 Due date", "未付金额 Open", "逾期天数 Days overdue"]
            )
            for item in section["open_items"]:
                table.row(
                    [
                        item["invoice"],
                        item["issue_date"],
                        item["due_date"],
                        grouped(item["open"]),
                        str(item["days_overdue"]),
                    ]
                )
    if section["aging"]:
        pdf.ln(2)
        pdf.set_font("cjk", size=8.5)
        pdf.cell(0, 5, "账龄 Aging of what is open (days past due)", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=7.5)
        labels = list(section["aging"])
        with pdf.table(headings_style=heading, text_align="RIGHT", line_height=4.6) as table:
            table.row([_bucket(label) for label in labels])
            table.row([grouped(section["aging"][label]) for label in labels])


def _bucket(label: str) -> str:
    return {"current": "未到期 Not yet due"}.get(label, label.replace("over", "超过 over") + " 天 days")


def _bank_details(pdf: FPDF, issuer: dict[str, Any]) -> None:
    details = [
        ("收款单位 Payee", issuer.get("name")),
        ("开户银行 Bank", issuer.get("bank_name")),
        ("银行账号 Account", issuer.get("bank_account")),
        ("纳税人识别号 Tax ID", issuer.get("tax_id")),
    ]
    shown = [(label, value) for label, value in details if value]
    if len(shown) <= 1:
        return
    pdf.ln(4)
    pdf.set_font("cjk", size=8.5)
    pdf.cell(0, 5, "付款账户 Please pay to", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8)
    for label, value in shown:
        pdf.cell(40, 4.8, label)
        pdf.cell(0, 4.8, str(value), new_x="LMARGIN", new_y="NEXT")


def _reply_slip(pdf: FPDF, document: dict[str, Any], statement_id: str) -> None:
    if pdf.get_y() > pdf.h - 80:
        pdf.add_page()
    pdf.ln(5)
    pdf.set_draw_color(120, 120, 120)
    pdf.set_dash_pattern(dash=1.5, gap=1)  # cut here
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.set_dash_pattern()
    pdf.ln(3)
    pdf.set_font("cjk", size=11)
    pdf.cell(0, 6, "回  执   Reply slip", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8.5)
    issuer = (document["issuer"] or {}).get("name", "")
    closing = "; ".join(f"{c['currency']} {grouped(c['closing_balance'])}" for c in document["currencies"]) or "0"
    pdf.multi_cell(
        0,
        5,
        f"致 To: {issuer}\n"
        f"对账函 {statement_id}（截至 {document['period']['end']}）所列余额 {closing}："
        f"\nThe balance of statement {statement_id} as at {document['period']['end']}, {closing}:",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(1)
    pdf.cell(0, 6, "□ 核对相符，予以确认。  Agrees with our books; we confirm it.", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(
        0,
        6,
        "□ 核对不符，差异如下（请附明细）：  Does not agree; the differences are (details attached):",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    for _ in range(2):
        pdf.ln(5)
        pdf.line(pdf.l_margin + 5, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(8)
    width = (pdf.w - pdf.l_margin - pdf.r_margin) / 3
    for label in ("单位盖章 Company seal", "经办人签字 Signature", "日期 Date"):
        pdf.cell(width, 6, f"{label}: ____________")
    pdf.ln(8)
    pdf.set_font("cjk", size=7)
    pdf.cell(0, 4, f"{document['customer']['legal_name']}", new_x="LMARGIN", new_y="NEXT")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
