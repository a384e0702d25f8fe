"""Registration numbers: the Chinese unified social credit code (统一社会信用代码, GB 32100-2015)
and other national schemes, identified by their country."""

from __future__ import annotations

from typing import Literal

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# The registering authority (first character) and the kinds of body it registers (second).
AUTHORITIES = {
    "1": "1239",  # 机构编制: 机关, 事业单位, 群众团体, 其他
    "2": "19",  # 外交
    "3": "1234569",  # 司法行政
    "4": "19",  # 文化
    "5": "1239",  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",  # 旅游
    "7": "129",  # 宗教
    "8": "19",  # 工会
    "9": "123",  # 工商: 企业, 个体工商户, 农民专业合作社
    "A": "19",  # 中央军委改革和编制办公室
    "N": "1239",  # 农业
    "Y": "1",  # 其他
}
# The first two digits of the administrative division (GB/T 2260): the province, or 10 for the state.
_NORTH_AND_EAST = (10, 11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37)
_SOUTH_AND_WEST = (41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82)
PROVINCES = frozenset(str(n) for n in (*_NORTH_AND_EAST, *_SOUTH_AND_WEST))
ORGANISATION_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714-1997

Scheme = Literal["CN-USCC", "OTHER"]


def uscc_check_character(first17: str) -> str:
    """The 18th character of a unified social credit code, from the first seventeen."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def organisation_check_character(body: str) -> str:
    """The ninth character of an organisation code (GB 11714) from its first eight."""
    total = sum(int(c, 36) * w for c, w in zip(body, ORGANISATION_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def uscc_problem(code: str) -> str | None:
    """Why ``code`` is not a valid unified social credit code, or None if it is. Checked: its
    length and alphabet, the registering authority and kind of body, the administrative
    division, the embedded organisation code's own check character, and the final one."""
    if len(code) != 18:
        return f"a unified social credit code has 18 characters, not {len(code)}"
    wrong = sorted({c for c in code if c not in USCC_ALPHABET})
    if wrong:
        return f"a unified social credit code cannot contain {', '.join(repr(c) for c in wrong)}"
    kinds = AUTHORITIES.get(code[0])
    if kinds is None:
        return f"{code[0]!r} is not a registering authority of GB 32100 (1-9, A, N or Y)"
    if code[1] not in kinds:
        return f"{code[1]!r} is not a kind of body that authority {code[0]!r} registers ({', '.join(kinds)})"
    division = code[2:8]
    if not division.isdigit() or division[:2] not in PROVINCES:
        return f"{division} is not an administrative division code (GB/T 2260)"
    organisation = code[8:17]
    if not organisation[:8].isalnum() or organisation_check_character(organisation[:8]) != organisation[8]:
        expected = organisation_check_character(organisation[:8])
        return (
            f"the organisation code {organisation} has the check character {organisation[8]!r}, "
            f"but GB 11714 requires {expected!r}"
        )
    expected = uscc_check_character(code[:17])
    if code[17] != expected:
        return f"the check character is {code[17]!r} but the first 17 characters require {expected!r}"
    return None


def normalise(scheme: Scheme, number: str) -> str:
    """The form registration numbers are compared in: USCC upper-case, others without spaces."""
    cleaned = "".join(number.split())
    return cleaned.upper() if scheme == "CN-USCC" else cleaned
