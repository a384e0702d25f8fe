"""Credit bureau reports pulled over HTTP, through a provider interface.

The provider contract (what a bureau adapter must answer):

    GET {base_url}/v1/reports?scheme=CN-USCC&number=…&country=CN
    Authorization: Bearer {api_key}
    200 {"reference": "…", "report_date": "2026-11-20", "score": 72, "rating": "BB",
         "adverse_records": [{"kind": "lawsuit", "date": "2025-03-01",
                              "amount": {"amount": "120000.00", "currency": "CNY"}, "description": "…"}]}
    404 when the bureau has no report on the company.

The base URL and key are configuration: CREDO_BUREAU_URL, CREDO_BUREAU_API_KEY,
CREDO_BUREAU_NAME and CREDO_BUREAU_TIMEOUT_SECONDS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.events.contracts import describe
from services.profiles.events import AdverseRecord, Registration


class BureauSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CREDO_BUREAU_", extra="ignore")

    url: str | None = None
    api_key: SecretStr | None = None
    name: str = "bureau"
    timeout_seconds: float = 10.0


class BureauUnavailable(Exception):
    """The bureau could not be asked, or answered outside its contract; the message says how."""


class NoReport(Exception):
    """The bureau has no report on this company."""


class ReportPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reference: str
    report_date: date
    score: int | None = None
    rating: str | None = None
    adverse_records: list[AdverseRecord] = []


@dataclass(frozen=True)
class FetchedReport:
    provider: str
    payload: ReportPayload
    raw: str


class BureauProvider(Protocol):
    name: str

    async def fetch(self, registration: Registration) -> FetchedReport: ...


class HttpBureau:
    """A bureau that speaks the provider contract above."""

    def __init__(self, settings: BureauSettings, client: httpx.AsyncClient) -> None:
        if not settings.url:
            raise BureauUnavailable("no bureau is configured (CREDO_BUREAU_URL)")
        self.name = settings.name
        self.url = settings.url.rstrip("/")
        self.key = settings.api_key.get_secret_value() if settings.api_key else None
        self.timeout = settings.timeout_seconds
        self.client = client

    async def fetch(self, registration: Registration) -> FetchedReport:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        try:
            response = await self.client.get(
                f"{self.url}/v1/reports",
                headers=headers,
                timeout=self.timeout,
                params={"scheme": registration.scheme, "number": registration.number, "country": registration.country},
            )
        except httpx.HTTPError as exc:
            raise BureauUnavailable(f"{self.name} could not be reached: {type(exc).__name__}") from exc
        if response.status_code == 404:
            raise NoReport(f"{self.name} has no report on {registration.number}")
        if response.status_code != 200:
            raise BureauUnavailable(f"{self.name} answered {response.status_code}")
        try:
            payload = ReportPayload.model_validate_json(response.content)
        except ValidationError as exc:
            raise BureauUnavailable(f"{self.name} answered outside its contract: {describe(exc)}") from exc
        return FetchedReport(self.name, payload, response.text)
