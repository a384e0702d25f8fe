"""Configuration of a Credo service, from the environment (12-factor).

Every setting is an environment variable named ``CREDO_`` + the field name in capitals,
e.g. ``CREDO_DATABASE_URL``. Each service process reads its own environment, so the
supervisor of ``make dev`` or the deployment gives each service its own database.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.events.contracts import AcceptedCurrency

# People's roles, the ERP's (a machine: it posts documents, checks credit and reads what it needs),
# and admin, who may do everything.
ROLES = ("viewer", "credit_analyst", "collector", "credit_manager", "finance_director", "erp", "admin")
Role = Literal["viewer", "credit_analyst", "collector", "credit_manager", "finance_director", "erp", "admin"]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREDO_", extra="ignore", frozen=True)

    service: str = Field(description="the service's name; also its topic <service>.events")
    version: str = "0.1.0"
    database_url: str = Field(description="the service's own PostgreSQL database")
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"

    # Bearer tokens: HS256 with a shared secret, or RS256 with the issuer's public key.
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = Field(default=None, description="PEM, for RS256")
    jwt_issuer: str = "credo"
    jwt_audience: str = "credo"
    # ERP and other machine clients: "name:key:role,role;name2:key2:role" entries.
    api_keys: SecretStr = SecretStr("")

    business_date: str | None = Field(default=None, description="fixed YYYY-MM-DD or a shift like +30d")
    role: Literal["api", "worker", "all"] = Field(
        default="all",
        description="api: the HTTP API alone, without the broker; worker: the relay, consumers, sweeps and"
        " reactors besides (it answers HTTP too, for its probes); all: the same as worker, the default",
    )
    consumer_group: bool = Field(default=False, description="share partitions with replicas via a Kafka group")
    republish_on_start: bool = Field(default=False, description="re-publish the whole history at start")
    partitions: int = 6
    topic_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="prefix of every topic name, to share a broker between environments",
    )
    api_docs: bool = Field(default=False, description="serve /docs and /openapi.json (open routes; for development)")

    base_currency: AcceptedCurrency = Field(
        default="CNY", description="the one currency of limits, exposure and reports across the platform"
    )

    # The company that sells on credit: who statements and letters come from, and where to pay.
    company_name: str | None = Field(default=None, max_length=200)
    company_address: str | None = Field(default=None, max_length=500)
    company_phone: str | None = Field(default=None, max_length=64)
    company_bank_name: str | None = Field(default=None, max_length=200)
    company_bank_account: str | None = Field(default=None, max_length=64)
    company_tax_id: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _signing_key(self) -> ServiceSettings:
        if self.jwt_algorithm == "HS256" and (self.jwt_secret is None or len(self.jwt_secret.get_secret_value()) < 32):
            raise ValueError("CREDO_JWT_SECRET must be set to at least 32 characters for HS256")
        if self.jwt_algorithm == "RS256" and not self.jwt_public_key:
            raise ValueError("CREDO_JWT_PUBLIC_KEY (PEM) must be set for RS256")
        return self

    def topic_name(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def topic(self) -> str:
        return self.topic_name(f"{self.service}.events")

    @property
    def dead_letter_topic(self) -> str:
        return self.topic_name(f"{self.service}.dlq")

    def api_key_table(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """key -> (client name, roles)."""
        table: dict[str, tuple[str, tuple[str, ...]]] = {}
        for entry in filter(None, (e.strip() for e in self.api_keys.get_secret_value().split(";"))):
            parts = entry.split(":")
            name = parts[0] if parts else "?"
            if len(parts) != 3 or not all(parts):
                raise ValueError(f"CREDO_API_KEYS entry for {name} is not name:key:role[,role]")
            name, key, roles = parts
            unknown = [r for r in roles.split(",") if r not in ROLES]
            if unknown:
                raise ValueError(f"CREDO_API_KEYS entry for {name} names unknown roles {', '.join(unknown)}")
            table[key] = (name, tuple(roles.split(",")))
        return table
