"""The use cases of scoring: the only code that loads credit accounts, decides and appends.

- ``accounts``: requests through the approval chain, holds, scoring again, the policy's holds;
- ``checks``: the credit check, decided in batches at its desk.
"""

from services.scoring.handlers.accounts import (
    AccountCommand,
    Approve,
    ExpireTemporaryLimit,
    Parts,
    PlaceHold,
    Reconsider,
    Reject,
    ReleaseHold,
    RequestLimit,
    RequestTerms,
    credit_accounts,
    locked,
    on_account,
    reconsider,
    rescore,
)
from services.scoring.handlers.checks import CheckDesk, CheckRequest

__all__ = [
    "AccountCommand",
    "Approve",
    "CheckDesk",
    "CheckRequest",
    "ExpireTemporaryLimit",
    "Parts",
    "PlaceHold",
    "Reconsider",
    "Reject",
    "ReleaseHold",
    "RequestLimit",
    "RequestTerms",
    "credit_accounts",
    "locked",
    "on_account",
    "reconsider",
    "rescore",
]
