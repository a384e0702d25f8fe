"""The ERP's documents, as the ERP publishes them on its topics (and posts them over HTTP).

On Kafka the ERP publishes CloudEvents like Credo's own: the key is its customer id, the subject
the document id, the stream version the document's revision. Every revision carries the whole
document. ``erp.customers`` carries the customer master (for profiles); ``erp.invoices``,
``erp.payments`` and ``erp.credit_notes`` the documents of the receivables ledger.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.profiles import CompanySize, Registration
from contracts.receivables import RemittanceLine, Terms
from libs.events.contracts import (
    AcceptedMoney,
    BusinessDate,
    CalendarDate,
    DomainEvent,
    EventRegistry,
    Money,
    accepted_amount,
)

CUSTOMERS = "erp.customers"
INVOICES, PAYMENTS, CREDIT_NOTES = "erp.invoices", "erp.payments", "erp.credit_notes"
DOCUMENTS = (INVOICES, PAYMENTS, CREDIT_NOTES)


class BillingContact(BaseModel):
    """Whom the customer's accounts payable are: collections writes to them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ()-]{5,32}$")


class CustomerMaster(DomainEvent):
    """The ERP's record of a customer; every revision carries the whole record."""

    event_type = "erp.CustomerMaster"
    schema_version = 1

    erp_id: str
    legal_name: str
    registration: Registration
    industry: str | None = None
    size: CompanySize | None = None
    address: str | None = None
    customer_since: CalendarDate | None = None
    billing_contact: BillingContact | None = None


def _minor_units(*amounts: Money) -> None:  # of amounts not typed AcceptedMoney
    for money in amounts:
        accepted_amount(money.amount, money.currency)


class ErpInvoice(DomainEvent):
    """An invoice as the ERP issued it; every revision carries the whole document."""

    event_type = "erp.Invoice"
    schema_version = 1

    customer_erp_id: str = Field(min_length=1, max_length=64)
    number: str = Field(min_length=1, max_length=64)
    net: AcceptedMoney
    tax: AcceptedMoney
    issue_date: BusinessDate
    terms: Terms
    order_ref: str | None = Field(default=None, max_length=64)
    erp_reference: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _amounts(self) -> Self:
        _minor_units(*(i.amount for i in self.terms.instalments or ()))
        if self.net.amount < 0 or self.tax.amount < 0:
            raise ValueError("net and tax are not negative; a reduction is a credit note")
        return self


class ErpPayment(DomainEvent):
    """Money received from a customer, with its remittance advice when the customer sent one.
    A later revision with ``reversed`` set records that the payment did not stand."""

    event_type = "erp.Payment"
    schema_version = 1

    customer_erp_id: str = Field(min_length=1, max_length=64)
    amount: AcceptedMoney
    value_date: BusinessDate
    method: str = Field(min_length=1, max_length=32, description="e.g. bank_transfer, bank_acceptance, cash")
    payer_reference: str | None = Field(default=None, max_length=256)
    remittance: tuple[RemittanceLine, ...] = ()
    reversed: bool = False
    reversal_reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _amounts(self) -> Self:
        if any(line.amount is not None and line.amount <= 0 for line in self.remittance):
            raise ValueError("remittance amounts are positive")
        _minor_units(*(Money.of(line.amount, self.amount.currency) for line in self.remittance if line.amount))
        return self


class ErpCreditNote(DomainEvent):
    """A credit note, against one of the customer's invoices (its ERP document id) or on account."""

    event_type = "erp.CreditNote"
    schema_version = 1

    customer_erp_id: str = Field(min_length=1, max_length=64)
    number: str = Field(min_length=1, max_length=64)
    amount: AcceptedMoney
    reason: str = Field(min_length=1, max_length=500)
    issue_date: BusinessDate
    invoice_document_id: str | None = Field(default=None, max_length=128)


ErpDocument = ErpInvoice | ErpPayment | ErpCreditNote
customers = EventRegistry([CustomerMaster])
documents = EventRegistry([ErpInvoice, ErpPayment, ErpCreditNote])


def topic_of(document: ErpDocument) -> str:
    match document:
        case ErpInvoice():
            return INVOICES
        case ErpPayment():
            return PAYMENTS
        case ErpCreditNote():
            return CREDIT_NOTES
