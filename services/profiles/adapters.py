"""Adapters to outside systems: credit bureau reports pulled over HTTP, through a provider interface.

The provider contract (what a bureau adapter must answer):

    GET {base_url}/v1/reports?scheme=CN-USCC&number=…&country=CN
    Authorization: Bearer {api_key}
    200 {"reference": "…", "report_date": "2026-11-20", "score": 72, "score_range": {"min": 0, "max": 100},
         "rating": "BB",
         "adverse_records": [{"kind": "lawsuit", "date": "2025-03-01",
                              "amount": {"amount": "120000.00", "currency": "CNY"}, "description": "…"}]}
    404 when the bureau has no report on the company.

The base URL and key are configuration: CREDO_BUREAU_URL, CREDO_BUREAU_API_KEY,
CREDO_BUREAU_NAME and CREDO_BUREAU_TIMEOUT_SECONDS. A score means nothing without its scale: a
bureau that does not send ``score_range`` has it configured (CREDO_BUREAU_SCORE_MIN and
CREDO_BUREAU_SCORE_MAX); a score with neither is refused as outside the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from contracts.profiles import AdverseRecord, Registration, ScoreRange
from libs.events.contracts import describe
from services.profiles.settings import BureauSettings


class BureauUnavailable(Exception):
    """The bureau could not be asked, or answered outside its contract; the message says how."""


class NoReport(Exception):
    """The bureau has no report on this company."""


class ReportPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reference: str
    report_date: date
    score: int | None = None
    score_range: ScoreRange | None = None
    rating: str | None = None
    adverse_records: list[AdverseRecord] = []

    def scale(self) -> ScoreRange | None:
        return self.score_range


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

    def __init__(self, settings: BureauSettings, client: httpx.AsyncClient | None = None) -> None:
        if not settings.url:
            raise BureauUnavailable("no bureau is configured (CREDO_BUREAU_URL)")
        self.name = settings.name
        self.url = settings.url.rstrip("/")
        self.key = settings.api_key.get_secret_value() if settings.api_key else None
        self.timeout = settings.timeout_seconds
        self.client = client
        self.scale = (
            ScoreRange(min=settings.score_min, max=settings.score_max)
            if settings.score_min is not None and settings.score_max is not None
            else None
        )

    async def fetch(self, registration: Registration) -> FetchedReport:
        if self.client is None:  # a connection of its own for each report: pulls are rare
            async with httpx.AsyncClient() as client:
                return await self._ask(client, registration)
        return await self._ask(self.client, registration)

    async def _ask(self, client: httpx.AsyncClient, registration: Registration) -> FetchedReport:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        try:
            response = await client.get(
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
        if payload.score is not None:
            scale = payload.score_range or self.scale
            if scale is None or not scale.min <= payload.score <= scale.max:
                raise BureauUnavailable(
                    f"{self.name} answered a score of {payload.score} without a scale it fits "
                    "(score_range, or CREDO_BUREAU_SCORE_MIN and CREDO_BUREAU_SCORE_MAX)"
                )
            payload = payload.model_copy(update={"score_range": scale})
        return FetchedReport(self.name, payload, response.text)


def configured_bureau(settings: BureauSettings) -> HttpBureau | None:
    """The bureau the settings name; None when none is configured."""
    return HttpBureau(settings) if settings.url else None
