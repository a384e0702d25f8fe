"""Statements of account (对账单): a document computed from the account's events up to a
pinned stream version, so that the same period and ledger point give the same bytes, today
or in ten years. The PDF embeds a CJK font so Chinese names and text render anywhere."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

from libs.events.contracts import DomainEvent, Money
from services.receivables.domain import ZERO, Movement, movements
from services.receivables.settings import DEFAULT_FONT


def statement_document(
    customer_id: str,
    customer_name: str,
    events: Sequence[DomainEvent],
    period_start: date,
    period_end: date,
    ledger_version: int,
) -> dict[str, Any]:
    """``events`` are the account's first ``ledger_version`` events, in order."""
    lines: dict[str, list[tuple[int, int, Movement]]] = {}
    for version, event in enumerate(events[:ledger_version], start=1):
        for number, movement in enumerate(movements(event)):
            if movement.entry_date <= period_end:
                lines.setdefault(movement.currency, []).append((version, number, movement))
    currencies = []
    for currency in sorted(lines):
        ordered = sorted(lines[currency], key=lambda item: (item[2].entry_date, item[0], item[1]))
        opening = sum((m.amount for _, _, m in ordered if m.entry_date < period_start), ZERO)
        balance, rows = opening, []
        for _, _, m in ordered:
            if m.entry_date < period_start:
                continue
            balance += m.amount
            rows.append(
                {
                    "date": m.entry_date.isoformat(),
                    "kind": m.kind,
                    "reference": m.reference,
                    "description": m.description,
                    "debit": _amount(m.amount) if m.amount > 0 else None,
                    "credit": _amount(-m.amount) if m.amount < 0 else None,
                    "balance": _amount(balance),
                }
            )
        currencies.append(
            {
                "currency": currency,
                "opening_balance": _amount(opening),
                "lines": rows,
                "closing_balance": _amount(balance),
            }
        )
    return {
        "customer": {"customer_id": customer_id, "legal_name": customer_name},
        "period": {"start": period_start.isoformat(), "end": period_end.isoformat()},
        "ledger_version": ledger_version,
        "currencies": currencies,
    }


def closing_balances(document: dict[str, Any]) -> list[Money]:
    return [Money.of(c["closing_balance"], c["currency"]) for c in document["currencies"]]


def _amount(value: Decimal) -> str:
    return format(value, "f")


def render_json(document: dict[str, Any]) -> bytes:
    """The canonical bytes of a statement: what the digest is taken of."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(render_json(document)).hexdigest()


class FontMissing(RuntimeError):
    pass


def render_pdf(document: dict[str, Any], statement_id: str, issued_on: date, font: Path = DEFAULT_FONT) -> bytes:
    if not font.is_file():
        raise FontMissing(f"the statement font {font} is not installed (Debian package fonts-wqy-microhei)")
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_creation_date(_midnight(issued_on))  # the same statement renders to the same file
    pdf.set_title(f"Statement of account {statement_id}")
    pdf.add_font("cjk", fname=str(font), collection_font_number=0)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    customer, period = document["customer"], document["period"]
    pdf.set_font("cjk", size=16)
    pdf.cell(0, 10, "对账单 Statement of account", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=10)
    for label, value in (
        ("客户 Customer", f"{customer['legal_name']} ({customer['customer_id']})"),
        ("期间 Period", f"{period['start']} to {period['end']}"),
        (
            "编号 Statement",
            f"{statement_id}, issued {issued_on.isoformat()}, ledger point {document['ledger_version']}",
        ),
    ):
        pdf.cell(35, 6, label)
        pdf.multi_cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
    widths = (22, 78, 28, 28, 30)
    for section in document["currencies"] or [_empty_section()]:
        pdf.ln(4)
        pdf.set_font("cjk", size=11)
        pdf.cell(0, 7, f"币种 Currency {section['currency']}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=8)
        with pdf.table(
            col_widths=widths,
            text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
            headings_style=FontFace(emphasis="NONE", fill_color=(235, 235, 235)),
        ) as table:
            table.row(["日期 Date", "摘要 Description", "借方 Debit", "贷方 Credit", "余额 Balance"])
            table.row(["", "期初余额 Opening balance", "", "", section["opening_balance"]])
            for line in section["lines"]:
                table.row(
                    [line["date"], line["description"], line["debit"] or "", line["credit"] or "", line["balance"]]
                )
            table.row(["", "期末余额 Closing balance", "", "", section["closing_balance"]])
    pdf.ln(6)
    pdf.set_font("cjk", size=9)
    pdf.multi_cell(
        0,
        5,
        "请核对上述余额。如有不符，请注明差异明细并回复。 Please confirm the closing balance, "  # noqa: RUF001
        "or tell us which lines differ from your books.",
    )
    return bytes(pdf.output())


def _empty_section() -> dict[str, Any]:
    return {"currency": "-", "opening_balance": "0", "lines": [], "closing_balance": "0"}


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
