"""The receivables ledger's rules, without I/O: cash application to the cent, discounts,
reversals, credit notes, disputes, write-offs, overdue steps and aging."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.collections import Charge
from contracts.receivables import (
    CashDiscount,
    Instalment,
    InvoiceAdjusted,
    InvoiceFellOverdue,
    InvoiceIssued,
    InvoiceReopened,
    InvoiceSettled,
    PaymentAllocated,
    RemittanceLine,
    Terms,
)
from libs.events.contracts import DomainEvent, Money
from services.receivables import domain
from services.receivables.domain import Account, InvoiceDocument, PaymentDocument

TODAY = date(2026, 3, 1)


def cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


def invoice(
    doc_id: str, number: str, total: str, issued: date, *, net_days: int = 30, discount: CashDiscount | None = None
) -> InvoiceDocument:
    return InvoiceDocument(doc_id, 1, number, cny(total), cny("0"), issued, Terms(net_days=net_days, discount=discount))


def apply(account: Account, events: list[DomainEvent]) -> Account:
    return domain.fold(events, account)


def book(*invoices: InvoiceDocument) -> Account:
    account = Account(customer_id="C-1")
    for doc in invoices:
        account = apply(account, domain.receive_invoice(account, "C-1", doc, doc.issue_date))
    return account


def pay(
    account: Account,
    amount: str,
    value_date: date,
    *,
    pid: str = "P-1",
    remittance: tuple[RemittanceLine, ...] = (),
    reference: str | None = None,
) -> tuple[Account, list[DomainEvent]]:
    doc = PaymentDocument(pid, 1, cny(amount), value_date, "bank_transfer", reference, remittance)
    events = domain.receive_payment(account, "C-1", doc, value_date)
    return apply(account, events), events


def allocation(events: list[DomainEvent]) -> PaymentAllocated:
    return next(e for e in events if isinstance(e, PaymentAllocated))


def opens(account: Account) -> dict[str, Decimal]:
    return {i.number: i.open for i in account.invoices.values()}


def settled(events: list[DomainEvent]) -> list[str]:
    return [e.invoice_id for e in events if isinstance(e, InvoiceSettled)]


OLD = invoice("D-1", "INV-1", "1000.00", date(2026, 1, 1))  # due 31 January
NEW = invoice("D-2", "INV-2", "800.00", date(2026, 1, 15))  # due 14 February


def test_remittance_names_the_invoices_paid() -> None:
    lines = (RemittanceLine(invoice_number="INV-2", amount=Decimal("500.00")), RemittanceLine(invoice_number="inv-1"))
    account, events = pay(book(OLD, NEW), "1500.00", date(2026, 2, 10), remittance=lines)
    allocated = allocation(events)
    assert allocated.basis == "remittance"
    assert [(a.invoice_id, a.amount.amount) for a in allocated.allocations] == [
        ("D-2", Decimal("500.00")),
        ("D-1", Decimal("1000.00")),
    ]
    assert opens(account) == {"INV-1": Decimal("0.00"), "INV-2": Decimal("300.00")}
    assert settled(events) == ["D-1"]
    assert allocated.remainder.amount == 0


def test_reference_matched_to_an_invoice_number_before_oldest_due() -> None:
    account, events = pay(book(OLD, NEW), "800.00", date(2026, 2, 10), reference="TRANSFER FOR INV-2 THANKS")
    assert allocation(events).basis == "reference"
    assert opens(account) == {"INV-1": Decimal("1000.00"), "INV-2": Decimal("0.00")}


def test_without_detail_cash_goes_to_the_oldest_due_first() -> None:
    account, events = pay(book(NEW, OLD), "1234.56", date(2026, 2, 10), reference="monthly payment")
    assert allocation(events).basis == "oldest_due"
    assert opens(account) == {"INV-1": Decimal("0.00"), "INV-2": Decimal("565.44")}
    assert settled(events) == ["D-1"]


def test_discount_taken_inside_its_window_settles_the_invoice() -> None:
    terms = CashDiscount(percent=Decimal("2"), days=10)
    discounted = invoice("D-3", "INV-3", "1234.50", date(2026, 1, 1), discount=terms)
    line = (RemittanceLine(invoice_number="INV-3"),)
    # 2% of 1,234.50 is 24.69; 1,209.81 paid on day 10 settles it.
    account, events = pay(book(discounted), "1209.81", date(2026, 1, 11), remittance=line)
    (taken,) = allocation(events).allocations
    assert (taken.amount.amount, taken.discount and taken.discount.amount) == (Decimal("1209.81"), Decimal("24.69"))
    assert opens(account) == {"INV-3": Decimal("0.00")}
    assert settled(events) == ["D-3"]
    assert [m.amount for e in events for m in domain.movements(e)] == [Decimal("-1209.81"), Decimal("-24.69")]


def test_discount_taken_late_leaves_the_difference_open() -> None:
    terms = CashDiscount(percent=Decimal("2"), days=10)
    discounted = invoice("D-3", "INV-3", "1234.50", date(2026, 1, 1), discount=terms)
    account, events = pay(
        book(discounted), "1209.81", date(2026, 1, 12), remittance=(RemittanceLine(invoice_number="INV-3"),)
    )
    (taken,) = allocation(events).allocations
    assert taken.discount is None
    assert opens(account) == {"INV-3": Decimal("24.69")}
    assert settled(events) == []


def test_cash_that_cannot_be_matched_is_unapplied_until_a_person_allocates_it() -> None:
    account, events = pay(book(OLD), "400.00", date(2026, 2, 1), remittance=(RemittanceLine(invoice_number="INV-999"),))
    allocated = allocation(events)
    assert (allocated.allocations, allocated.remainder.amount, allocated.remainder_as) == (
        (),
        Decimal("400.00"),
        "unapplied",
    )
    assert account.payments["P-1"].unallocated == Decimal("400.00")

    by_hand = domain.allocate_by_hand(account, "P-1", [("D-1", Decimal("400.00"))], "anna", TODAY)
    account = apply(account, by_hand)
    assert allocation(by_hand).basis == "manual"
    assert allocation(by_hand).allocated_by == "anna"
    assert account.payments["P-1"].unallocated == 0
    assert opens(account) == {"INV-1": Decimal("600.00")}

    with pytest.raises(domain.Refused, match=re.escape("has 0.00 CNY left to allocate, not 1")):
        domain.allocate_by_hand(account, "P-1", [("D-1", Decimal("1"))], "anna", TODAY)


def test_payment_with_nothing_open_is_unapplied_and_over_payment_is_a_credit_balance() -> None:
    _, events = pay(book(), "100.00", date(2026, 2, 1))
    assert allocation(events).remainder_as == "unapplied"

    lines = (RemittanceLine(invoice_number="INV-1", amount=Decimal("1100.00")),)
    account, events = pay(book(OLD), "1100.00", date(2026, 2, 1), remittance=lines)
    allocated = allocation(events)
    assert (allocated.remainder.amount, allocated.remainder_as) == (Decimal("100.00"), "credit_balance")
    assert opens(account) == {"INV-1": Decimal("0.00")}


def test_reversing_a_payment_reopens_what_it_settled() -> None:
    lines = (RemittanceLine(invoice_number="INV-1"), RemittanceLine(invoice_number="INV-2", amount=Decimal("300")))
    account, _ = pay(book(OLD, NEW), "1300.00", date(2026, 2, 10), remittance=lines)
    events = domain.reverse_payment(account, "P-1", "bounced", TODAY)
    account = apply(account, events)
    assert opens(account) == {"INV-1": Decimal("1000.00"), "INV-2": Decimal("800.00")}
    assert [e.invoice_id for e in events if isinstance(e, InvoiceReopened)] == ["D-1"]
    assert sum(m.amount for e in events for m in domain.movements(e)) == Decimal("1300.00")
    with pytest.raises(domain.Refused, match=re.escape("already reversed")):
        domain.reverse_payment(account, "P-1", "again", TODAY)


def test_instalments_are_settled_earliest_first() -> None:
    schedule = (
        Instalment(due_date=date(2026, 2, 1), amount=cny("600.00")),
        Instalment(due_date=date(2026, 3, 1), amount=cny("400.00")),
    )
    doc = InvoiceDocument("D-9", 1, "INV-9", cny("1000.00"), cny("0"), date(2026, 1, 1), Terms(instalments=schedule))
    account, _ = pay(book(doc), "700.00", date(2026, 2, 5))
    assert account.invoices["D-9"].open_instalments() == [(2, date(2026, 3, 1), Decimal("300.00"))]

    wrong = Terms(instalments=(schedule[0],))
    with pytest.raises(domain.Refused, match=re.escape("add up to 600.00, not to the invoice total 1000.00")):
        domain.schedule_for(cny("1000.00"), date(2026, 1, 1), wrong)


def test_a_corrected_document_becomes_an_adjustment_and_an_older_revision_is_ignored() -> None:
    account = book(OLD)
    corrected = InvoiceDocument("D-1", 2, "INV-1", cny("900.00"), cny("117.00"), OLD.issue_date, OLD.terms)
    events = domain.receive_invoice(account, "C-1", corrected, TODAY)
    (adjusted,) = events
    assert isinstance(adjusted, InvoiceAdjusted)
    assert (adjusted.change.amount, adjusted.total.amount) == (Decimal("17.00"), Decimal("1017.00"))
    account = apply(account, events)
    assert domain.receive_invoice(account, "C-1", OLD, TODAY) == []
    assert domain.receive_invoice(account, "C-1", corrected, TODAY) == []
    clash = InvoiceDocument("D-7", 1, "inv-1", cny("5.00"), cny("0"), TODAY, OLD.terms)
    with pytest.raises(domain.Refused, match=re.escape("invoice number inv-1 is already invoice D-1")):
        domain.receive_invoice(account, "C-1", clash, TODAY)


def test_credit_notes_and_disputes_reduce_what_is_owed() -> None:
    account = book(OLD)
    note = domain.CreditNoteDocument("CN-1", 1, "CN-1", cny("150.00"), "damaged goods", TODAY, "D-1")
    account = apply(account, domain.receive_credit_note(account, "C-1", note, TODAY))
    assert opens(account) == {"INV-1": Decimal("850.00")}

    account = apply(
        account, domain.open_dispute(account, "X-1", "D-1", Decimal("300.00"), "short delivery", "li", TODAY)
    )
    assert account.invoices["D-1"].disputed == Decimal("300.00")
    with pytest.raises(domain.Refused, match=re.escape("550.00 CNY open and undisputed, not 600")):
        domain.open_dispute(account, "X-2", "D-1", Decimal("600"), "more", "li", TODAY)
    # Undetailed cash leaves the disputed part alone.
    account, _ = pay(account, "1000.00", TODAY)
    assert opens(account) == {"INV-1": Decimal("300.00")}
    assert account.payments["P-1"].unallocated == Decimal("450.00")

    # Partly upheld: 120.00 credited; the other 180.00 is collectable again, and the 450.00 of
    # unapplied cash waiting on the account pays it.
    events = domain.resolve_dispute(account, "X-1", "partly", Decimal("120.00"), "half the goods", "wang", TODAY)
    account = apply(account, events)
    assert opens(account) == {"INV-1": Decimal("0.00")}
    assert account.payments["P-1"].unallocated == Decimal("270.00")
    assert account.invoices["D-1"].disputed == 0
    with pytest.raises(domain.Refused, match=re.escape("already resolved")):
        domain.resolve_dispute(account, "X-1", "rejected", None, None, "wang", TODAY)


def test_write_off_and_recovery() -> None:
    account = book(OLD)
    events = domain.write_off(account, "D-1", None, "insolvent", "cfo", TODAY)
    account = apply(account, events)
    assert settled(events) == ["D-1"]
    assert account.invoices["D-1"].written_off == Decimal("1000.00")
    account = apply(account, domain.recover(account, "D-1", Decimal("250.00"), "liquidator's dividend", TODAY))
    assert account.invoices["D-1"].recovered == Decimal("250.00")
    with pytest.raises(domain.Refused, match=re.escape("750.00 CNY written off and not yet recovered")):
        domain.recover(account, "D-1", Decimal("800.00"), "more", TODAY)


def test_an_invoice_falls_overdue_once_and_again_at_each_bucket() -> None:
    account = book(OLD)  # due 31 January
    assert domain.fall_overdue(account, date(2026, 1, 31)) == []
    steps = []
    for day in range(1, 100):
        today = date.fromordinal(date(2026, 1, 31).toordinal() + day)
        events = domain.fall_overdue(account, today)
        account = apply(account, events)
        steps += [(e.days_past_due, e.bucket) for e in events if isinstance(e, InvoiceFellOverdue)]
    assert steps == [(1, "1-30"), (31, "31-60"), (61, "61-90"), (91, "91-180")]


def test_aging_as_of_a_past_date_is_what_the_ledger_knew_then() -> None:
    # Worked by hand, as of 31 March 2026, by due date:
    #   INV-1 due 31 Jan: 1,000.00 less 400.00 paid on 1 Mar -> 600.00, 59 days past due -> 31-60
    #   INV-2 due 14 Feb: 800.00, 45 days                                  -> 31-60
    #   INV-3 due 30 Mar: 500.00, 1 day                                    -> 1-30
    #   INV-4 due 30 Apr: 250.00                                           -> current
    # A payment of 800.00 recorded on 2 April was not yet known.
    # By invoice date (0-30, 31-60, 61-90, over 90): INV-1 89 days and INV-2 75 days -> 61-90;
    # INV-3 31 days -> 31-60; INV-4 0 days -> 0-30.
    third = invoice("D-3", "INV-3", "500.00", date(2026, 2, 28))
    fourth = invoice("D-4", "INV-4", "250.00", date(2026, 3, 31))
    history: list[DomainEvent] = []
    account = Account(customer_id="C-1")
    for doc in (OLD, NEW, third, fourth):
        history += domain.receive_invoice(account, "C-1", doc, doc.issue_date)
        account = domain.fold(history, Account(customer_id="C-1"))
    account, first = pay(account, "400.00", date(2026, 3, 1), remittance=(RemittanceLine(invoice_number="INV-1"),))
    _, later = pay(account, "800.00", date(2026, 4, 2), pid="P-2")
    history += first + later

    then = domain.fold(domain.recorded_by(history, date(2026, 3, 31)), Account(customer_id="C-1"))
    zero = Decimal(0)
    assert domain.age(domain.open_items(then), date(2026, 3, 31)) == {
        "CNY": {
            "current": Decimal("250.00"),
            "1-30": Decimal("500.00"),
            "31-60": Decimal("1400.00"),
            "61-90": zero,
            "91-180": zero,
            "over 180": zero,
        }
    }
    by_invoice_date = domain.age(domain.open_items(then), date(2026, 3, 31), by="invoice_date", boundaries=(30, 60, 90))
    assert by_invoice_date == {
        "CNY": {"0-30": Decimal("250.00"), "31-60": Decimal("500.00"), "61-90": Decimal("1400.00"), "over 90": zero}
    }
    # Everything recorded later leaves that report as it was.
    now = domain.fold(history, Account(customer_id="C-1"))
    assert domain.age(domain.open_items(now), date(2026, 3, 31))["CNY"]["31-60"] == Decimal("600.00")


def test_a_credit_note_or_remittance_that_came_before_its_invoice_is_applied_when_it_arrives() -> None:
    # The ERP's topics are not ordered with one another: these name an invoice not yet received.
    account = Account(customer_id="C-1")
    note = domain.CreditNoteDocument("CN-1", 1, "CN-1", cny("100.00"), "price agreed", TODAY, "D-1")
    account = apply(account, domain.receive_credit_note(account, "C-1", note, TODAY))
    assert account.credit_notes["CN-1"].unallocated == Decimal("100.00")
    account, events = pay(account, "500.00", date(2026, 1, 5), remittance=(RemittanceLine(invoice_number="INV-1"),))
    assert allocation(events).remainder_as == "unapplied"

    events = domain.receive_invoice(account, "C-1", OLD, TODAY)
    account = apply(account, events)
    assert [type(e).__name__ for e in events] == ["InvoiceIssued", "CreditNoteApplied", "PaymentAllocated"]
    assert opens(account) == {"INV-1": Decimal("400.00")}
    assert (account.credit_notes["CN-1"].unallocated, account.payments["P-1"].unallocated) == (Decimal(0), Decimal(0))


def test_a_payment_whose_reference_names_an_invoice_not_yet_received_is_applied_when_it_arrives() -> None:
    account, events = pay(Account(customer_id="C-1"), "1000.00", date(2026, 2, 1), reference="for INV-1")
    assert allocation(events).remainder_as == "unapplied"
    events = domain.receive_invoice(account, "C-1", OLD, TODAY)
    assert allocation(events).basis == "reference"
    assert settled(events) == ["D-1"]


def test_erp_documents_refuse_floating_point_amounts_in_remittances_and_discounts() -> None:
    with pytest.raises(ValidationError, match="not floating-point"):
        RemittanceLine(invoice_number="INV-1", amount=10.5)
    with pytest.raises(ValidationError, match="not floating-point"):
        CashDiscount(percent=2.5, days=10)


# -- rules the ledger settles -----------------------------------------------------------------------


def test_undetailed_cash_beyond_what_is_open_waits_and_pays_the_next_invoice() -> None:
    account, events = pay(book(OLD), "1500.00", date(2026, 2, 10))
    assert (allocation(events).remainder.amount, allocation(events).remainder_as) == (Decimal("500.00"), "unapplied")
    later = invoice("D-5", "INV-5", "300.00", date(2026, 2, 20))
    events = domain.receive_invoice(account, "C-1", later, TODAY)
    account = apply(account, events)
    applied = allocation(events)
    assert (applied.basis, applied.entry_date) == ("oldest_due", date(2026, 2, 20))  # counts from the invoice's date
    assert opens(account) == {"INV-1": Decimal("0.00"), "INV-5": Decimal("0.00")}
    assert (account.payments["P-1"].unallocated, account.payments["P-1"].remainder_as) == (
        Decimal("200.00"),
        "unapplied",
    )


def test_a_remittance_line_for_more_than_is_open_leaves_a_credit_balance() -> None:
    lines = (RemittanceLine(invoice_number="INV-1", amount=Decimal("1200.00")),)
    account, events = pay(book(OLD), "1200.00", date(2026, 2, 1), remittance=lines)
    assert [a.amount.amount for a in allocation(events).allocations] == [Decimal("1000.00")]
    assert (allocation(events).remainder.amount, allocation(events).remainder_as) == (
        Decimal("200.00"),
        "credit_balance",
    )
    # A credit balance waits for a person: a new invoice does not take it.
    account = apply(account, domain.receive_invoice(account, "C-1", NEW, TODAY))
    assert opens(account)["INV-2"] == Decimal("800.00")


def test_lines_without_amounts_take_what_is_open_in_their_order() -> None:
    lines = (RemittanceLine(invoice_number="INV-2"), RemittanceLine(invoice_number="INV-1"))
    _, events = pay(book(OLD, NEW), "1000.00", date(2026, 2, 10), remittance=lines)
    assert [(a.invoice_id, a.amount.amount) for a in allocation(events).allocations] == [
        ("D-2", Decimal("800.00")),
        ("D-1", Decimal("200.00")),
    ]


def test_a_remittance_in_another_currency_is_not_matched() -> None:
    doc = PaymentDocument("P-9", 1, Money.of("100.00", "USD"), date(2026, 2, 1), "bank_transfer", None,
                          (RemittanceLine(invoice_number="INV-1"),))  # fmt: skip
    events = domain.receive_payment(book(OLD), "C-1", doc, TODAY)
    assert (allocation(events).allocations, allocation(events).remainder_as) == ((), "unapplied")


def test_two_items_due_the_same_day_go_by_invoice_date_then_number() -> None:
    a = invoice("D-A", "INV-B", "100.00", date(2026, 1, 1), net_days=45)  # due 15 February
    b = invoice("D-B", "INV-A", "100.00", date(2026, 1, 16), net_days=30)  # due 15 February
    c = invoice("D-C", "INV-C", "100.00", date(2026, 1, 16), net_days=30)
    _, events = pay(book(c, b, a), "150.00", date(2026, 2, 20))
    assert [(x.invoice_id, x.amount.amount) for x in allocation(events).allocations] == [
        ("D-A", Decimal("100.00")),  # the earliest invoice date
        ("D-B", Decimal("50.00")),  # then INV-A before INV-C
    ]


def test_the_discount_is_on_the_gross_total_earned_up_to_the_last_day_of_its_window() -> None:
    terms = CashDiscount(percent=Decimal("2"), days=10)
    taxed = InvoiceDocument(
        "D-T", 1, "INV-T", cny("1000.00"), cny("130.00"), date(2026, 1, 1), Terms(net_days=30, discount=terms)
    )
    line = (RemittanceLine(invoice_number="INV-T"),)
    # 2 % of 1,130.00 (tax included) is 22.60; 11 January is the last day; recorded later, value date counts.
    account, events = pay(book(taxed), "1107.40", date(2026, 1, 11), remittance=line)
    (taken,) = allocation(events).allocations
    assert taken.discount is not None
    assert taken.discount.amount == Decimal("22.60")
    # Part-paid first, the rest inside the window still earns the whole discount.
    account, _ = pay(book(taxed), "500.00", date(2026, 1, 5), remittance=line)
    account, events = pay(account, "607.40", date(2026, 1, 9), pid="P-2", remittance=line)
    (rest,) = allocation(events).allocations
    assert (rest.amount.amount, rest.discount and rest.discount.amount) == (Decimal("607.40"), Decimal("22.60"))
    assert opens(account) == {"INV-T": Decimal("0.00")}
    # Half a cent rounds half up: 2 % of 1,234.25 is 24.685 -> 24.69.
    odd = invoice("D-O", "INV-O", "1234.25", date(2026, 1, 1), discount=terms)
    window = domain.discount_window(book(odd).invoices["D-O"])
    assert window == (Decimal("24.69"), date(2026, 1, 11))


def test_a_credit_note_cannot_credit_more_than_its_invoice() -> None:
    account = book(OLD)
    fair = domain.CreditNoteDocument("CN-1", 1, "CN-1", cny("600.00"), "price", TODAY, "D-1")
    account = apply(account, domain.receive_credit_note(account, "C-1", fair, TODAY))
    greedy = domain.CreditNoteDocument("CN-2", 1, "CN-2", cny("44000.00"), "typo", TODAY, "D-1")
    with pytest.raises(
        domain.Refused, match=re.escape("more than invoice INV-1 has left to credit (400.00 of its 1000.00)")
    ):
        domain.receive_credit_note(account, "C-1", greedy, TODAY)


def test_a_credit_balance_is_refunded() -> None:
    lines = (RemittanceLine(invoice_number="INV-1", amount=Decimal("1100.00")),)
    account, _ = pay(book(OLD), "1100.00", date(2026, 2, 1), remittance=lines)
    events = domain.refund(account, "RF-1", "P-1", Decimal("100.00"), "bank_transfer", "ICBC 77", "wang", TODAY)
    account = apply(account, events)
    assert (account.payments["P-1"].unallocated, account.payments["P-1"].remainder_as) == (Decimal(0), None)
    assert [(m.kind, m.amount) for e in events for m in domain.movements(e)] == [("refund", Decimal("100.00"))]
    with pytest.raises(domain.Refused, match=re.escape("has 0.00 CNY that could be refunded, not 1")):
        domain.refund(account, "RF-2", "P-1", Decimal("1"), "bank_transfer", None, "wang", TODAY)


def test_a_recovery_is_a_movement_the_customer_sees_as_a_payment() -> None:
    account = apply(book(OLD), domain.write_off(book(OLD), "D-1", None, "insolvent", "cfo", TODAY))
    events = domain.recover(account, "D-1", Decimal("250.00"), "dividend", TODAY)
    lines = [(m.kind, m.amount) for e in events for m in domain.movements(e)]
    assert lines == [("write_off_reinstated", Decimal("250.00")), ("recovery", Decimal("-250.00"))]
    assert {m.kind for e in events for m in domain.movements(e)} & domain.INTERNAL == {"write_off_reinstated"}


def test_an_answer_to_a_statement_is_dated_between_its_issue_and_today() -> None:
    account = apply(
        book(OLD),
        domain.issue_statement(
            book(OLD),
            "S-1",
            "X",
            None,
            domain_issuer(),
            (date(2026, 1, 1), date(2026, 1, 31)),
            1,
            [],
            "d",
            date(2026, 2, 10),
        ),
    )
    with pytest.raises(domain.Refused, match="before the statement was issued on 2026-02-10"):
        domain.confirm_balance(account, "S-1", "Liu", date(2026, 2, 9), TODAY)
    with pytest.raises(domain.Refused, match="after today"):
        domain.confirm_balance(account, "S-1", "Liu", date(2026, 3, 2), TODAY)
    assert domain.confirm_balance(account, "S-1", "Liu", date(2026, 2, 10), TODAY)


def domain_issuer() -> Any:
    from contracts.receivables import Issuer

    return Issuer(name="福州闽江供应链有限公司")


def test_the_account_as_of_a_business_date_as_known_on_a_day() -> None:
    # Invoice of 1 January (due 31 January) recorded on 2 January; a payment value-dated 25 January
    # recorded on 5 February.
    history: list[DomainEvent] = domain.receive_invoice(Account(customer_id="C-1"), "C-1", OLD, date(2026, 1, 2))
    account = domain.fold(history, Account(customer_id="C-1"))
    doc = PaymentDocument("P-1", 1, cny("1000.00"), date(2026, 1, 25), "bank_transfer")
    history += domain.receive_payment(account, "C-1", doc, date(2026, 2, 5))

    def open_on(as_of: date, known_on: date) -> Decimal:
        then = domain.account_as_of(history, "C-1", as_of, known_on)
        return sum((i.open for i in then.invoices.values()), Decimal(0))

    assert open_on(date(2026, 1, 31), date(2026, 1, 31)) == Decimal("1000.00")  # as reported at month end
    assert open_on(date(2026, 1, 31), date(2026, 2, 5)) == Decimal("0.00")  # restated by the late posting
    assert open_on(date(2026, 1, 20), date(2026, 2, 5)) == Decimal("1000.00")  # before the value date
    assert len(domain.account_as_of(history, "C-1", date(2025, 12, 31), TODAY).invoices) == 0  # before the invoice


def test_a_notices_charges_are_receivables_due_at_once_paid_after_older_items_and_booked_once() -> None:
    # INV-1 (1,000.00, due 31 Jan) is dunned on 1 March with a 50.00 fee and 9.86 interest.
    fee = Charge(kind="fee", amount=cny("50.00"), description="Second reminder")
    interest = Charge(kind="interest", amount=cny("9.86"), description="late-payment interest at 12% a year")
    account = book(OLD)
    events = domain.book_charges(account, "C-1", "C-1-2026-03-01", date(2026, 3, 1), [fee, interest], TODAY)
    account = apply(account, events)
    assert opens(account) == {
        "INV-1": Decimal("1000.00"),
        "FEE-20260301-CNY": Decimal("50.00"),
        "INT-20260301-CNY": Decimal("9.86"),
    }
    issued = [e for e in events if isinstance(e, InvoiceIssued)]
    assert [(e.charge.kind if e.charge else None, e.schedule[0].due_date) for e in issued] == [
        ("fee", date(2026, 3, 1)),
        ("interest", date(2026, 3, 1)),
    ]
    assert [(m.kind, m.amount) for e in events for m in domain.movements(e)] == [
        ("charge", Decimal("50.00")),
        ("charge", Decimal("9.86")),
    ]
    # Delivered again, nothing more is booked.
    assert domain.book_charges(account, "C-1", "C-1-2026-03-01", date(2026, 3, 1), [fee, interest], TODAY) == []
    # Aged with the rest: as of 10 March the charges are 9 days past due, INV-1 38.
    aged = domain.age(domain.open_items(account), date(2026, 3, 10))["CNY"]
    assert (aged["1-30"], aged["31-60"]) == (Decimal("59.86"), Decimal("1000.00"))
    # Undetailed cash pays the invoice that fell due first, then the fee.
    account, _ = pay(account, "1020.00", date(2026, 3, 12))
    assert opens(account) == {
        "INV-1": Decimal("0.00"),
        "FEE-20260301-CNY": Decimal("30.00"),
        "INT-20260301-CNY": Decimal("9.86"),
    }


def test_unapplied_cash_waiting_on_the_account_pays_a_charge_when_it_is_booked() -> None:
    account, _ = pay(book(), "20.00", date(2026, 2, 1))
    fee = Charge(kind="fee", amount=cny("50.00"), description="Second reminder")
    account = apply(account, domain.book_charges(account, "C-1", "C-1-2026-03-01", date(2026, 3, 1), [fee], TODAY))
    assert opens(account) == {"FEE-20260301-CNY": Decimal("30.00")}


def test_a_charge_must_be_positive_in_the_minor_unit() -> None:
    wrong = Charge(kind="fee", amount=Money(amount=Decimal("5.001"), currency="CNY"), description="x")
    with pytest.raises(domain.Refused, match="minor unit"):
        domain.book_charges(book(OLD), "C-1", "C-1-2026-03-01", date(2026, 3, 1), [wrong], TODAY)
