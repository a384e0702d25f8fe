"""Configuration of the console, from the environment: ``CREDO_CONSOLE_`` + the field name in capitals."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Locale = Literal["zh-CN", "en"]
SERVICES = ("profiles", "receivables", "scoring", "collections", "alerts")


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREDO_CONSOLE_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = 8100
    public_url: str = Field(
        default="http://127.0.0.1:8100",
        description="where browsers reach the console; https makes its cookies Secure",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"

    profiles_url: str = "http://127.0.0.1:8101"
    receivables_url: str = "http://127.0.0.1:8102"
    scoring_url: str = "http://127.0.0.1:8103"
    collections_url: str = "http://127.0.0.1:8104"
    alerts_url: str = "http://127.0.0.1:8105"
    service_timeout_seconds: float = Field(default=30.0, gt=0)

    # OpenID Connect: authorization code with PKCE; the access token is what the services verify.
    oidc_issuer: str = Field(description="the provider's issuer URL; its discovery document is read at start")
    oidc_client_id: str = "credo-console"
    oidc_client_secret: SecretStr | None = Field(default=None, description="for a confidential client")
    oidc_scope: str = "openid profile"
    oidc_roles_claim: str = Field(default="roles", description="the ID token claim listing the user's roles")

    default_locale: Locale = "zh-CN"
    session_hours: float = Field(default=8.0, gt=0, le=24)

    def service_url(self, service: str) -> str:
        url: str = getattr(self, f"{service}_url")
        return url.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")
