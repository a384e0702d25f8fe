"""Settings of scoring beyond the kit's: ``CREDO_SCORING_*``, and the policy they make."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.events.contracts import CurrencyCode
from services.scoring import checks, domain, limits, scorecard


class ScoringSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CREDO_SCORING_", extra="ignore", frozen=True, env_parse_none_str="never"
    )

    base_currency: CurrencyCode = Field(
        default="CNY", description="the currency of limits and exposure; the same as receivables' base currency"
    )
    reservation_days: int = Field(
        default=30, ge=1, le=365, description="how long an approved check reserves its amount without an invoice"
    )
    hold_overdue_days: int | None = Field(
        default=60, ge=0, description="hold a customer with anything more days past due than this; never: no such hold"
    )
    hold_over_limit: bool = Field(default=True, description="hold a customer whose exposure is above its limit")


@dataclass(frozen=True)
class Policies:
    """The policy in force: the scorecard, the limit rules and authority, the check and the holds."""

    scorecard: scorecard.Policy
    limits: limits.LimitPolicy
    checks: checks.CheckPolicy
    holds: domain.HoldPolicy


@lru_cache(maxsize=1)
def settings() -> ScoringSettings:
    return ScoringSettings()


@lru_cache(maxsize=1)
def policies() -> Policies:
    found = settings()
    return Policies(
        scorecard.Policy(),
        limits.LimitPolicy(),
        checks.CheckPolicy(),
        domain.HoldPolicy(over_limit=found.hold_over_limit, overdue_days=found.hold_overdue_days),
    )
