"""Settings of collections beyond the kit's: ``CREDO_COLLECTIONS_*``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # Debian: fonts-wqy-microhei


class CollectionsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREDO_COLLECTIONS_", extra="ignore", frozen=True)

    smtp_host: str | None = Field(default=None, description="the SMTP server notices go through; none: email fails")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: str = Field(default="credit-control@credo.local", description="the From address of notices")
    sms_url: str | None = Field(default=None, description="the SMS provider's endpoint; none: SMS fails")
    sms_token: SecretStr | None = None
    retry_seconds: float = Field(default=30.0, gt=0, description="the first retry's delay; each next doubles")
    attempts: int = Field(default=5, ge=1, le=20, description="tries of a channel before it is given up")
    claim_seconds: float = Field(
        default=60.0, gt=0, description="a notice sent but not recorded by then (a crash) is sent again"
    )
    letter_font: Path = Field(default=DEFAULT_FONT, description="a TTF/TTC with CJK and Latin glyphs")
