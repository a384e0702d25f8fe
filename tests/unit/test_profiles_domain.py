"""The credit file's pure rules, checked against examples worked by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.profiles import StatementItems, altman_z_double_prime, zone
from contracts.profiles import statement_ratios as ratios
from services.profiles.domain.financials import balance_problem
from services.profiles.domain.registration import (
    normalise,
    organisation_check_character,
    uscc_check_character,
    uscc_problem,
)


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91440300708461136T"])
def test_valid_unified_social_credit_codes(code: str) -> None:
    assert uscc_problem(code) is None


def test_a_wrong_check_character_is_refused_naming_the_right_one() -> None:
    assert uscc_problem("91350100M000100Y44") == ("the check character is '4' but the first 17 characters require '3'")
    assert uscc_check_character("91350100M000100Y4") == "3"


def test_malformed_codes_say_what_is_wrong() -> None:
    assert uscc_problem("9135010") == "a unified social credit code has 18 characters, not 7"
    assert uscc_problem("91350100M000100YI3") == "a unified social credit code cannot contain 'I'"
    assert normalise("CN-USCC", " 91350100m000100y43 ") == "91350100M000100Y43"
    assert normalise("OTHER", "HRB 12 345") == "HRB12345"


def _statement(**items: int) -> StatementItems:
    return StatementItems(**{k: Decimal(v) for k, v in items.items()})


# Worked by hand: X1 = 150/1000 = 0.15, X2 = 0.2, X3 = 0.08, X4 = 450/550 = 0.81818…
# Z″ = 6.56·0.15 + 3.26·0.2 + 6.72·0.08 + 1.05·0.81818 = 0.984 + 0.652 + 0.5376 + 0.85909 = 3.03
HEALTHY = _statement(
    current_assets=400_000,
    total_assets=1_000_000,
    current_liabilities=250_000,
    total_liabilities=550_000,
    equity=450_000,
    retained_earnings=200_000,
    revenue=2_000_000,
    ebit=80_000,
    net_income=60_000,
)


def test_ratios_of_a_healthy_company() -> None:
    derived = ratios(HEALTHY)
    assert derived.current_ratio == Decimal("1.6000")
    assert derived.debt_ratio == Decimal("0.5500")
    assert derived.working_capital == Decimal(150_000)
    assert derived.altman_z == Decimal("3.03")
    assert derived.altman_zone == "safe"


def test_altman_zones() -> None:
    # X1 = X2 = 0.1, X3 = 0.05, X4 = 0.5: Z″ = 0.656 + 0.326 + 0.336 + 0.525 = 1.843
    grey = _statement(
        current_assets=320,
        total_assets=1200,
        current_liabilities=200,
        total_liabilities=800,
        equity=400,
        retained_earnings=120,
        revenue=0,
        ebit=60,
        net_income=0,
    )
    assert altman_z_double_prime(grey) == Decimal("1.84")
    assert ratios(grey).altman_zone == "grey"
    # X1 = -0.2, X2 = -0.1, X3 = 0.01, X4 = 0.1111…: Z″ = -1.312 - 0.326 + 0.0672 + 0.11667 = -1.45
    distressed = _statement(
        current_assets=100_000,
        total_assets=500_000,
        current_liabilities=200_000,
        total_liabilities=450_000,
        equity=50_000,
        retained_earnings=-50_000,
        revenue=0,
        ebit=5_000,
        net_income=-20_000,
    )
    assert altman_z_double_prime(distressed) == Decimal("-1.45")
    assert ratios(distressed).altman_zone == "distress"
    assert (zone(Decimal("2.60")), zone(Decimal("2.61")), zone(Decimal("1.10")), zone(Decimal("1.09"))) == (
        "grey",
        "safe",
        "grey",
        "distress",
    )


def test_a_balance_sheet_that_does_not_balance_names_the_difference() -> None:
    assert balance_problem(HEALTHY) is None
    off = HEALTHY.model_copy(update={"equity": Decimal(440_000)})
    assert balance_problem(off) == (
        "total assets 1000000 differ from total liabilities plus equity 990000 by 10000 (tolerance 5000.00)"
    )
    within = HEALTHY.model_copy(update={"equity": Decimal(446_000)})
    assert balance_problem(within) is None


def test_no_ratio_divides_by_zero() -> None:
    empty = _statement(
        current_assets=0,
        total_assets=0,
        current_liabilities=0,
        total_liabilities=0,
        equity=0,
        retained_earnings=0,
        revenue=0,
        ebit=0,
        net_income=0,
    )
    derived = ratios(empty)
    assert (derived.current_ratio, derived.debt_ratio, derived.altman_z, derived.altman_zone) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("000000000000000000", "'0' is not a registering authority of GB 32100 (1-9, A, N or Y)"),
        ("94350100M000100Y43", "'4' is not a kind of body that authority '9' registers (1, 2, 3)"),
        ("91990100M000100Y43", "990100 is not an administrative division code (GB/T 2260)"),
        # 3·22 + 5·1 + 2·33 = 137; 11 - 137 mod 11 = 6
        (
            "91350100M000100X43",
            "the organisation code M000100X4 has the check character '4', but GB 11714 requires '6'",
        ),
    ],
)
def test_a_code_must_be_one_an_authority_could_have_issued(code: str, problem: str) -> None:
    assert uscc_problem(code) == problem


def test_the_organisation_code_has_its_own_check_character() -> None:
    # GB 11714: 3·22 + 7·0 + 9·0 + 10·0 + 5·1 + 8·0 + 4·0 + 2·34 = 139; 11 - 139 mod 11 = 4.
    assert organisation_check_character("M000100Y") == "4"
    assert organisation_check_character("70846113") == "6"


def test_assets_liabilities_and_revenue_cannot_be_negative() -> None:
    negative = HEALTHY.model_copy(update={"revenue": Decimal(-1), "current_liabilities": Decimal(-250_000)})
    problem = balance_problem(negative)
    assert problem is not None
    assert "current liabilities cannot be negative" in problem
    assert "revenue cannot be negative" in problem
    loss = HEALTHY.model_copy(update={"ebit": Decimal(-80_000), "net_income": Decimal(-90_000)})
    assert balance_problem(loss) is None  # a loss is a fact, not an error
