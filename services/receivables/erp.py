"""The ERP's documents (invoices, payments, credit notes), applied to customers' accounts.

On Kafka the ERP publishes CloudEvents like Credo's own: the key is its customer id, the
subject the document id, the stream version the document's revision. Over HTTP it posts the
same documents with their id and revision in the body. Either way each revision is applied
once: a revision the account has already seen is ignored, a higher one is a correction. A
document that breaks the contract, names a customer receivables does not know, or that the
ledger refuses, is dead-lettered with the reason; an unknown customer's documents are
re-driven by themselves once the customer is registered. Both ways go through the one handler
``handlers.receive_erp_documents``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Self

from pydantic import Field, model_validator

from libs.events.consumer import Delivery
from libs.events.contracts import DomainEvent, EventRegistry, Money, in_minor_units
from libs.events.database import Connection
from services.receivables import domain
from services.receivables.events import RemittanceLine, Terms

INVOICES, PAYMENTS, CREDIT_NOTES = "erp.invoices", "erp.payments", "erp.credit_notes"
TOPICS = (INVOICES, PAYMENTS, CREDIT_NOTES)
CONSUMER = "erp-documents"  # the consumer of the ERP's topics, named receivables.erp-documents by the kit


class UnknownCustomer(LookupError):
    pass


def _minor_units(*amounts: Money) -> None:
    for money in amounts:
        if not in_minor_units(money.amount, money.currency):
            raise ValueError(f"{money.amount} has more decimals than {money.currency} has minor units")


class ErpInvoice(DomainEvent):
    """An invoice as the ERP issued it; every revision carries the whole document."""

    event_type = "erp.Invoice"
    schema_version = 1

    customer_erp_id: str = Field(min_length=1, max_length=64)
    number: str = Field(min_length=1, max_length=64)
    net: Money
    tax: Money
    issue_date: date
    terms: Terms
    order_ref: str | None = Field(default=None, max_length=64)
    erp_reference: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _amounts(self) -> Self:
        _minor_units(self.net, self.tax, *(i.amount for i in self.terms.instalments or ()))
        if self.net.amount < 0 or self.tax.amount < 0:
            raise ValueError("net and tax are not negative; a reduction is a credit note")
        return self

    def document(self, document_id: str, revision: int) -> domain.InvoiceDocument:
        return domain.InvoiceDocument(
            document_id,
            revision,
            self.number,
            self.net,
            self.tax,
            self.issue_date,
            self.terms,
            self.order_ref,
            self.erp_reference,
        )


class ErpPayment(DomainEvent):
    """Money received from a customer, with its remittance advice when the customer sent one.
    A later revision with ``reversed`` set records that the payment did not stand."""

    event_type = "erp.Payment"
    schema_version = 1

    customer_erp_id: str = Field(min_length=1, max_length=64)
    amount: Money
    value_date: date
    method: str = Field(min_length=1, max_length=32, description="e.g. bank_transfer, bank_acceptance, cash")
    payer_reference: str | None = Field(default=None, max_length=256)
    remittance: tuple[RemittanceLine, ...] = ()
    reversed: bool = False
    reversal_reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _amounts(self) -> Self:
        _minor_units(self.amount)
        if any(line.amount is not None and line.amount <= 0 for line in self.remittance):
            raise ValueError("remittance amounts are positive")
        return self

    def document(self, document_id: str, revision: int) -> domain.PaymentDocument:
        return domain.PaymentDocument(
            document_id,
            revision,
            self.amount,
            self.value_date,
            self.method,
            self.payer_reference,
            self.remittance,
            self.reversed,
            self.reversal_reason,
        )


class ErpCreditNote(DomainEvent):
    """A credit note, against one of the customer's invoices (its ERP document id) or on account."""

    event_type = "erp.CreditNote"
    schema_version = 1

    customer_erp_id: str = Field(min_length=1, max_length=64)
    number: str = Field(min_length=1, max_length=64)
    amount: Money
    reason: str = Field(min_length=1, max_length=500)
    issue_date: date
    invoice_document_id: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _amounts(self) -> Self:
        _minor_units(self.amount)
        return self

    def document(self, document_id: str, revision: int) -> domain.CreditNoteDocument:
        return domain.CreditNoteDocument(
            document_id, revision, self.number, self.amount, self.reason, self.issue_date, self.invoice_document_id
        )


ErpDocument = ErpInvoice | ErpPayment | ErpCreditNote
registry = EventRegistry([ErpInvoice, ErpPayment, ErpCreditNote])


async def customers_for(conn: Connection, erp_ids: Sequence[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT erp_id, customer_id FROM customers WHERE erp_id = ANY($1::text[])", sorted(set(erp_ids))
    )
    return {row["erp_id"]: row["customer_id"] for row in rows}


def unknown_customer(erp_id: str) -> UnknownCustomer:
    return UnknownCustomer(
        f"no customer with ERP id {erp_id} is registered; the document is applied once the customer is"
    )


def document_of(delivery: Delivery) -> ErpDocument:
    event = delivery.event
    assert isinstance(event, ErpInvoice | ErpPayment | ErpCreditNote), event
    if delivery.version < 1:
        raise ValueError(f"document {delivery.stream_id} has revision {delivery.version}; revisions start at 1")
    return event


def topic_of(document: ErpDocument) -> str:
    match document:
        case ErpInvoice():
            return INVOICES
        case ErpPayment():
            return PAYMENTS
        case ErpCreditNote():
            return CREDIT_NOTES
