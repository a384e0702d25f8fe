"""A customer's account in the receivables ledger (应收账款台账), as pure functions.

``decide`` functions take the folded ``Account`` and a command and return events; ``evolve``
folds one event into the account. No I/O here. The modules, by concern:

- ``account``: the account's state and how events change it;
- ``terms``: due dates and the cash discount;
- ``cash``: cash application, unapplied cash waiting for what it pays, allocations by hand,
  reversals and refunds;
- ``documents``: the ERP's documents, applied in document order whatever order they arrive in;
- ``disputes``: disputes, write-offs and recoveries;
- ``charges``: the dunning fees and interest collections posts, booked as receivables;
- ``aging``: overdue steps, aging, and the account as of a business date as known on a day;
- ``fx``: FX rates to the base currency, proposed and confirmed;
- ``statements``: statements of account and the customer's answer;
- ``statement_document``: a statement as the document the customer receives.

What each event changes in the balance (``movements``) is a published rule, in
``contracts.receivables``.
"""

from contracts.receivables import INTERNAL, Movement, movements
from services.receivables.domain.account import (
    DEFAULT_BOUNDARIES,
    ZERO,
    Account,
    CreditNote,
    Dispute,
    Invoice,
    Payment,
    Refused,
    Unknown,
    bucket_index,
    evolve,
    fold,
    money,
    normalise_number,
    stream_id,
)
from services.receivables.domain.aging import (
    AccountHistory,
    OpenItem,
    account_as_of,
    age,
    bucket_labels,
    counts_from,
    fall_overdue,
    in_effect,
    open_items,
    recorded_by,
    recorded_on,
)
from services.receivables.domain.cash import allocate_by_hand, apply_cash, refund, reverse_payment
from services.receivables.domain.charges import book_charges
from services.receivables.domain.disputes import open_dispute, recover, resolve_dispute, write_off
from services.receivables.domain.documents import (
    CreditNoteDocument,
    Document,
    InvoiceDocument,
    PaymentDocument,
    adjust,
    credit,
    document_of,
    in_document_order,
    realign,
    receive,
    receive_credit_note,
    receive_documents,
    receive_invoice,
    receive_payment,
)
from services.receivables.domain.fx import FX_KEY, FX_STREAM, FxBook, confirm_rate, record_rate
from services.receivables.domain.statement_document import (
    Heading,
    closing_balances,
    digest,
    render_json,
    statement_document,
)
from services.receivables.domain.statements import confirm_balance, dispute_balance, issue_statement
from services.receivables.domain.terms import discount_window, schedule_for

__all__ = [
    "DEFAULT_BOUNDARIES",
    "FX_KEY",
    "FX_STREAM",
    "INTERNAL",
    "ZERO",
    "Account",
    "AccountHistory",
    "CreditNote",
    "CreditNoteDocument",
    "Dispute",
    "Document",
    "FxBook",
    "Heading",
    "Invoice",
    "InvoiceDocument",
    "Movement",
    "OpenItem",
    "Payment",
    "PaymentDocument",
    "Refused",
    "Unknown",
    "account_as_of",
    "adjust",
    "age",
    "allocate_by_hand",
    "apply_cash",
    "book_charges",
    "bucket_index",
    "bucket_labels",
    "closing_balances",
    "confirm_balance",
    "confirm_rate",
    "counts_from",
    "credit",
    "digest",
    "discount_window",
    "dispute_balance",
    "document_of",
    "evolve",
    "fall_overdue",
    "fold",
    "in_document_order",
    "in_effect",
    "issue_statement",
    "money",
    "movements",
    "normalise_number",
    "open_dispute",
    "open_items",
    "realign",
    "receive",
    "receive_credit_note",
    "receive_documents",
    "receive_invoice",
    "receive_payment",
    "record_rate",
    "recorded_by",
    "recorded_on",
    "recover",
    "refund",
    "render_json",
    "resolve_dispute",
    "reverse_payment",
    "schedule_for",
    "statement_document",
    "stream_id",
    "write_off",
]
