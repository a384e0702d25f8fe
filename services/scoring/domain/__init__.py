"""Scoring as pure functions: no I/O. The modules, by concern:

- ``account``: the credit account, its requests through the approval chain, limits, terms, holds;
- ``scorecard``: the score and grade from a customer's facts;
- ``limits``: the recommended limit, default terms and the authority matrix;
- ``checks``: the credit check's decision for one order;
- ``exposure``: what a customer owes and how late, in the base currency;
- ``policy``: the versioned policy as one whole, and its what-if changes.
"""

from services.scoring.domain.account import (
    CREDIT_FILE,
    OVER_LIMIT,
    OVERDUE,
    POLICY_HOLDS,
    RELEASE_POLICY_HOLDS,
    CreditAccount,
    HoldPolicy,
    Refused,
    Request,
    Terms,
    approve,
    evolve,
    expire_temporary,
    place_hold,
    policy_holds,
    reject,
    release_hold,
    request_limit,
    request_terms,
    stream_id,
)

__all__ = [
    "CREDIT_FILE",
    "OVERDUE",
    "OVER_LIMIT",
    "POLICY_HOLDS",
    "RELEASE_POLICY_HOLDS",
    "CreditAccount",
    "HoldPolicy",
    "Refused",
    "Request",
    "Terms",
    "approve",
    "evolve",
    "expire_temporary",
    "place_hold",
    "policy_holds",
    "reject",
    "release_hold",
    "request_limit",
    "request_terms",
    "stream_id",
]
