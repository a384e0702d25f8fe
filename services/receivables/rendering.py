"""The statement of account as a PDF for the customer: A4, with a CJK font embedded so Chinese names
and text render anywhere. It is rendered once and kept; the same document gives the same letter."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

from services.receivables.settings import DEFAULT_FONT


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
