"""Settings of alerts beyond the kit's: ``CREDO_ALERTS_*``."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AlertsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREDO_ALERTS_", extra="ignore", frozen=True)

    smtp_host: str | None = Field(default=None, description="the SMTP server alert emails go through")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: str = Field(default="alerts@credo.local", description="the From address of alert emails")
    signing_key: SecretStr = Field(
        default=SecretStr("credo-development-signing-key"),
        description="each webhook's secret is derived from it and the subscription's id; set it in production",
    )
    retry_seconds: float = Field(default=2.0, gt=0, description="the first retry's delay; each next doubles")
    retry_max_seconds: float = Field(default=300.0, gt=0, description="the longest delay between attempts")
    pause_after: int = Field(default=8, ge=1, le=100, description="failed attempts in a row that pause a receiver")
    timeout_seconds: float = Field(default=10.0, gt=0, description="how long a webhook or SMTP server may take")
    claim_seconds: float = Field(
        default=60.0, gt=0, description="a delivery tried but not recorded (a crash) is tried again"
    )
