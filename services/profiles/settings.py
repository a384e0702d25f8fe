"""Settings of profiles beyond the kit's: the credit bureau it pulls reports from, ``CREDO_BUREAU_*``."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class BureauSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREDO_BUREAU_", extra="ignore")

    url: str | None = None
    api_key: SecretStr | None = None
    name: str = "bureau"
    timeout_seconds: float = 10.0
    score_min: int | None = None  # the bureau's scale, when its reports do not say
    score_max: int | None = None
