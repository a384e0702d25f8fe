"""Registration numbers: the Chinese unified social credit code (统一社会信用代码, GB 32100-2015)
and other national schemes, identified by their country."""

from __future__ import annotations

from typing import Literal

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

Scheme = Literal["CN-USCC", "OTHER"]


def uscc_check_character(first17: str) -> str:
    """The 18th character of a unified social credit code, from the first seventeen."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Why ``code`` is not a valid unified social credit code, or None if it is."""
    if len(code) != 18:
        return f"a unified social credit code has 18 characters, not {len(code)}"
    wrong = sorted({c for c in code if c not in USCC_ALPHABET})
    if wrong:
        return f"a unified social credit code cannot contain {', '.join(repr(c) for c in wrong)}"
    expected = uscc_check_character(code[:17])
    if code[17] != expected:
        return f"the check character is {code[17]!r} but the first 17 characters require {expected!r}"
    return None


def normalise(scheme: Scheme, number: str) -> str:
    """The form registration numbers are compared in: USCC upper-case, others without spaces."""
    cleaned = "".join(number.split())
    return cleaned.upper() if scheme == "CN-USCC" else cleaned
