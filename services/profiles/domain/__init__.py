"""The credit file (信用档案) as pure functions: decide(state, command) -> events, evolve(state, event).

No I/O here. The modules, by concern:

- ``credit_file``: the file's state, the commands on it and how its events change it;
- ``registration``: registration numbers, the unified social credit code checked in full;
- ``financials``: whether a financial statement can be right.
"""

from services.profiles.domain.credit_file import (
    Contact,
    ContactDetails,
    CreditFile,
    Profile,
    RecordStatement,
    Refused,
    RegisterCustomer,
    Unknown,
    UpdateProfile,
    add_contact,
    cancel_insurance_cover,
    change_contact,
    change_status,
    counts_from,
    customer_id_for,
    evolve,
    new_file,
    record_bureau_report,
    record_insurance_cover,
    record_statement,
    record_trade_reference,
    register,
    registration_problem,
    retire_contact,
    review_due,
    set_review_date,
    stream_id,
    update_profile,
)
from services.profiles.domain.registration import normalise

__all__ = [
    "Contact",
    "ContactDetails",
    "CreditFile",
    "Profile",
    "RecordStatement",
    "Refused",
    "RegisterCustomer",
    "Unknown",
    "UpdateProfile",
    "add_contact",
    "cancel_insurance_cover",
    "change_contact",
    "change_status",
    "counts_from",
    "customer_id_for",
    "evolve",
    "new_file",
    "normalise",
    "record_bureau_report",
    "record_insurance_cover",
    "record_statement",
    "record_trade_reference",
    "register",
    "registration_problem",
    "retire_contact",
    "review_due",
    "set_review_date",
    "stream_id",
    "update_profile",
]
