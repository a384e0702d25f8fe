"""Statements of account (对账单) and the customer's answer to them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from contracts.receivables import BalanceConfirmed, BalanceDisputed, DifferingLine, Issuer, StatementIssued
from libs.events.contracts import DomainEvent, Money
from services.receivables.domain.account import Account, Refused, Statement, Unknown


def issue_statement(
    account: Account,
    statement_id: str,
    customer_name: str,
    customer_address: str | None,
    issuer: Issuer,
    period: tuple[date, date],
    ledger_version: int,
    closing: Sequence[Money],
    digest: str,
    today: date,
) -> list[DomainEvent]:
    period_start, period_end = period
    if period_end < period_start:
        raise Refused("a statement's period ends before it starts")
    if period_end > today:
        raise Refused(f"a statement's period cannot end after today ({today.isoformat()})")
    return [
        StatementIssued(
            customer_id=account.customer_id,
            recorded_on=today,
            statement_id=statement_id,
            customer_name=customer_name,
            customer_address=customer_address,
            issuer=issuer,
            period_start=period_start,
            period_end=period_end,
            ledger_version=ledger_version,
            closing=tuple(closing),
            digest=digest,
        )
    ]


def _answerable(account: Account, statement_id: str, on: date, today: date) -> Statement:
    statement = account.statements.get(statement_id)
    if statement is None:
        raise Unknown(f"customer {account.customer_id} has no statement {statement_id}")
    if statement.answered:
        raise Refused(f"statement {statement_id} has already been confirmed or disputed")
    if on < statement.issued_on:
        raise Refused(f"the answer is dated {on.isoformat()}, before the statement was issued on {statement.issued_on}")
    if on > today:
        raise Refused(f"the answer is dated {on.isoformat()}, after today ({today.isoformat()})")
    return statement


def confirm_balance(account: Account, statement_id: str, confirmed_by: str, on: date, today: date) -> list[DomainEvent]:
    _answerable(account, statement_id, on, today)
    return [
        BalanceConfirmed(
            customer_id=account.customer_id,
            recorded_on=today,
            statement_id=statement_id,
            confirmed_by=confirmed_by,
            confirmed_on=on,
        )
    ]


def dispute_balance(
    account: Account, statement_id: str, disputed_by: str, on: date, lines: Sequence[DifferingLine], today: date
) -> list[DomainEvent]:
    _answerable(account, statement_id, on, today)
    if not lines:
        raise Refused("a disputed statement names at least one line where the customer's books differ")
    return [
        BalanceDisputed(
            customer_id=account.customer_id,
            recorded_on=today,
            statement_id=statement_id,
            disputed_by=disputed_by,
            disputed_on=on,
            lines=tuple(lines),
        )
    ]
