"""Settings of scoring beyond the kit's: ``CREDO_SCORING_*``, and the policy they make."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.scoring.domain import HoldPolicy, checks, limits, scorecard
from services.scoring.domain.policy import Policies


class ScoringSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CREDO_SCORING_", extra="ignore", frozen=True, env_parse_none_str="never"
    )

    reservation_days: int = Field(
        default=30, ge=1, le=365, description="how long an approved check reserves its amount without an invoice"
    )
    hold_overdue_days: int | None = Field(
        default=60, ge=0, description="hold a customer with anything more days past due than this; never: no such hold"
    )
    hold_over_limit: bool = Field(default=True, description="hold a customer whose exposure is above its limit")


def policies_from(settings: ScoringSettings) -> Policies:
    """The policy in force: the versioned defaults, with the holds as configured."""
    return Policies(
        scorecard.Policy(),
        limits.LimitPolicy(),
        checks.CheckPolicy(),
        HoldPolicy(over_limit=settings.hold_over_limit, overdue_days=settings.hold_overdue_days),
    )
