"""The shapes of a service's answers, declared so its OpenAPI document says what it answers.

A view is a frozen pydantic model that forbids unknown fields; a query builds it from the read
model and the route sends it as JSON. Amounts go out as fixed-point strings (never floats, never
"8.0E+5"), money to its currency's minor unit, dates as ISO 8601.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Self

from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, PlainSerializer

from libs.events.contracts import to_minor_unit

# A decimal that goes out as fixed-point text.
Amount = Annotated[Decimal, PlainSerializer(lambda d: format(d, "f"), return_type=str)]


class View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Body(BaseModel):
    """A request body: a field it does not know is refused, and text comes without surrounding blanks."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class MoneyView(View):
    """An amount in a currency, to the currency's minor unit."""

    amount: Amount
    currency: str

    @classmethod
    def of(cls, amount: Decimal, currency: str) -> Self:
        return cls(amount=to_minor_unit(Decimal(amount), currency), currency=currency)

    @classmethod
    def maybe(cls, amount: Decimal | None, currency: str | None) -> Self | None:
        return None if amount is None or currency is None else cls.of(amount, currency)


def answer(view: BaseModel | list[Any], status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A view (or a list of views) as the JSON body of a response."""
    if isinstance(view, list):
        body = b"[" + b",".join(v.model_dump_json(by_alias=True).encode() for v in view) + b"]"
    else:
        body = view.model_dump_json(by_alias=True).encode()
    return Response(body, status_code=status_code, headers=headers, media_type="application/json")
