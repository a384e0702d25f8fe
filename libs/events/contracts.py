"""Event contracts: frozen pydantic models, a registry by stable type name, upcasting.

An event's type name (``receivables.InvoiceIssued``) and schema version are part of its
published contract. Stored and published events carry both; reading an older version runs
the registered upcasters in order until the payload matches the current model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Self, TypeVar

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    field_serializer,
    field_validator,
)

JsonObject = dict[str, Any]
Upcaster = Callable[[JsonObject], JsonObject]
E = TypeVar("E", bound=type["DomainEvent"])
M = TypeVar("M", bound=BaseModel)


class DomainEvent(BaseModel):
    """Base of every event. Subclasses set ``event_type`` and ``schema_version``.

    Unknown fields are ignored on read (tolerant reader), so adding an optional field is
    never a breaking change for consumers built against the older contract.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1

    def payload(self) -> JsonObject:
        return self.model_dump(mode="json")


# -- what Credo accepts: one set of bounds for every input (README, "Bounds") --------------------

# ISO 4217 codes that are no one's money: precious metals, bond-market and accounting units, the
# IMF's SDR, the test and "no currency" codes, and the funds codes beside a country's currency.
NOT_MONEY = frozenset(
    {"XAD", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"}
    | {"BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"}
)
AMOUNT_LIMIT = Decimal(10) ** 15  # every amount, rate and figure is below a quadrillion in size
MAX_DECIMALS = 12  # and has at most 12 decimals
EARLIEST_BUSINESS_DATE, LATEST_DATE = date(2000, 1, 1), date(2099, 12, 31)
EARLIEST_DATE = date(1900, 1, 1)  # of a company's history: customer since, trading since, accounts


@lru_cache(maxsize=1)
def _iso_codes() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


def is_currency_code(code: str) -> bool:
    """Any ISO 4217 code: what an event may carry, so that no event once written stops reading."""
    return code in _iso_codes()


def is_invoicing_currency(code: str) -> bool:
    """An ISO 4217 code of a currency someone can be invoiced in: what Credo accepts from outside."""
    return code in _iso_codes() and code not in NOT_MONEY


def invoicing_currencies() -> list[str]:
    return sorted(_iso_codes() - NOT_MONEY)


def _iso_4217(value: str) -> str:
    if not is_currency_code(value):
        raise ValueError(f"{value[:8]!r} is not an ISO 4217 currency code")
    return value


def _invoicing(value: str) -> str:
    if not is_invoicing_currency(value):
        raise ValueError(f"{value[:8]!r} is not the ISO 4217 code of a currency Credo accepts")
    return value


# In events: any ISO 4217 code.
CurrencyCode = Annotated[
    str,
    AfterValidator(_iso_4217),
    WithJsonSchema({"type": "string", "pattern": "^[A-Z]{3}$", "description": "an ISO 4217 currency code"}),
]
# From outside (requests, the ERP's documents): a currency someone can be invoiced in.
AcceptedCurrency = Annotated[
    str,
    AfterValidator(_invoicing),
    WithJsonSchema({"type": "string", "enum": invoicing_currencies(), "description": "an ISO 4217 currency code"}),
]


def bounded(value: Decimal) -> Decimal:
    """``value`` if it is within Credo's bounds for any decimal; a ValueError saying which otherwise."""
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if abs(value) >= AMOUNT_LIMIT:
        raise ValueError(f"must be below {AMOUNT_LIMIT:,} in size")
    if value.as_tuple().exponent < -MAX_DECIMALS:  # type: ignore[operator]
        raise ValueError(f"must have at most {MAX_DECIMALS} decimals")
    return value


def _business_date(value: date) -> date:
    if not EARLIEST_BUSINESS_DATE <= value <= LATEST_DATE:
        raise ValueError(f"a business date lies between {EARLIEST_BUSINESS_DATE} and {LATEST_DATE}")
    return value


def _calendar_date(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"a date lies between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


# The date of a document, a payment, a rate, a decision, a figure: what the ledger ages from.
BusinessDate = Annotated[date, AfterValidator(_business_date)]
# A date in a company's history, which may precede the business dates.
CalendarDate = Annotated[date, AfterValidator(_calendar_date)]


def accepted_amount(amount: Decimal, currency: str, field: str = "the amount") -> Decimal:
    """``amount`` if Credo accepts it in ``currency``: within the bounds and in the currency's
    minor units; a ValueError naming ``field`` otherwise."""
    try:
        bounded(amount)
    except ValueError as wrong:
        raise ValueError(f"{field} {wrong}") from None
    if not in_minor_units(amount, currency):
        raise ValueError(f"{field} {amount} has more decimals than {currency} has minor units")
    return amount


# ISO 4217 currencies whose minor unit is not the cent; every other has two decimals.
_NO_MINOR_UNIT = ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND")
_EXPONENTS: Mapping[str, int] = {
    **dict.fromkeys((*_NO_MINOR_UNIT, "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency``: 0.01 for most, 1 for JPY, 0.001 for KWD."""
    return Decimal(1).scaleb(-_EXPONENTS.get(currency, 2))


def in_minor_units(amount: Decimal, currency: str) -> bool:
    return amount == amount.quantize(minor_unit(currency))


def to_minor_unit(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half-up to the currency's minor unit: how every amount is reported."""
    return amount.quantize(minor_unit(currency), ROUND_HALF_UP)


def _not_a_float(value: object) -> object:
    if isinstance(value, float):
        raise ValueError("amounts are decimal strings, not floating-point numbers")
    return value


# How an exact decimal travels: fixed-point text; and the same within the bounds.
DECIMAL_TEXT = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["1250.00"]}
BOUNDED_TEXT = {"type": "string", "pattern": r"^-?\d{1,15}(\.\d{1,12})?$", "examples": ["1250.00"]}

# A decimal that arrives as a string or an integer: a float has already lost its exactness; it
# travels as fixed-point text, never "8.0E+5".
ExactDecimal = Annotated[
    Decimal,
    BeforeValidator(_not_a_float),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    WithJsonSchema(DECIMAL_TEXT),
]
# An exact decimal as Credo accepts it from outside: within the bounds.
BoundedDecimal = Annotated[ExactDecimal, AfterValidator(bounded), WithJsonSchema(BOUNDED_TEXT)]


class Money(BaseModel):
    """An amount in a currency. The amount travels as a decimal string, never a float."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Annotated[Decimal, WithJsonSchema(DECIMAL_TEXT)]
    currency: CurrencyCode

    @field_validator("amount", mode="before")
    @classmethod
    def _no_floats(cls, value: object) -> object:
        if isinstance(value, float):
            raise ValueError("money amounts are decimal strings, not floating-point numbers")
        return value

    @field_validator("amount")
    @classmethod
    def _finite(cls, value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError("money amounts must be finite")
        return value

    @field_serializer("amount")
    def _fixed_point(self, amount: Decimal) -> str:
        # Never "8.0E+5": a database may hand back decimals in exponent form.
        return format(amount, "f")

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Self:
        return cls(amount=Decimal(amount), currency=currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")


def _accepted_money(money: Money) -> Money:
    if not is_invoicing_currency(money.currency):
        raise ValueError(f"the currency {money.currency!r} is not the ISO 4217 code of a currency Credo accepts")
    accepted_amount(money.amount, money.currency)
    return money


# Money as Credo accepts it from outside: a currency someone is invoiced in, within the bounds, in
# the currency's minor units. Still a Money, so that it compares equal to the Money of an event.
AcceptedMoney = Annotated[
    Money,
    AfterValidator(_accepted_money),
    WithJsonSchema(
        {
            "type": "object",
            "properties": {
                "amount": BOUNDED_TEXT,
                "currency": {"type": "string", "enum": invoicing_currencies(), "description": "ISO 4217"},
            },
            "required": ["amount", "currency"],
            "additionalProperties": False,
        }
    ),
]


class UnknownEventType(LookupError):
    """An event type name that no contract in the registry describes."""


class EventDecodeError(ValueError):
    """A payload that does not fit its contract, with the reason."""


class EventRegistry:
    """Maps stable type names to event models and upcasts older schema versions."""

    def __init__(self, events: Iterable[type[DomainEvent]] = ()) -> None:
        self._models: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for model in events:
            self.register(model)

    def register(self, model: E) -> E:
        name = model.event_type
        existing = self._models.get(name)
        if existing is not None and existing is not model:
            raise ValueError(f"event type {name} is already registered to {existing.__qualname__}")
        self._models[name] = model
        return model

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function that turns a version ``from_version`` payload into the next."""

        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return decorate

    @classmethod
    def combine(cls, *registries: EventRegistry) -> EventRegistry:
        """One registry with the models and upcasters of several."""
        combined = cls()
        for registry in registries:
            for model in registry.models.values():
                combined.register(model)
            combined._upcasters.update(registry._upcasters)
        return combined

    def model(self, event_type: str) -> type[DomainEvent]:
        try:
            return self._models[event_type]
        except KeyError:
            raise UnknownEventType(f"no contract is registered for event type {event_type!r}") from None

    def knows(self, event_type: str) -> bool:
        return event_type in self._models

    @property
    def models(self) -> Mapping[str, type[DomainEvent]]:
        return dict(self._models)

    @property
    def upcasters(self) -> list[tuple[str, int]]:
        """(event type, from version) of every registered upcaster."""
        return list(self._upcasters)

    def upcast(self, event_type: str, schema_version: int, data: JsonObject) -> JsonObject:
        current = self.model(event_type).schema_version
        if schema_version > current:
            raise EventDecodeError(
                f"{event_type} arrived at schema version {schema_version}, newer than the "
                f"version {current} this service knows"
            )
        for version in range(schema_version, current):
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise EventDecodeError(f"no upcaster for {event_type} from version {version} to {version + 1}")
            data = step(dict(data))
        return data

    def decode(self, event_type: str, schema_version: int, data: JsonObject) -> DomainEvent:
        model = self.model(event_type)
        try:
            return model.model_validate(self.upcast(event_type, schema_version, data))
        except ValidationError as exc:
            raise EventDecodeError(
                f"{event_type} v{schema_version} does not fit its contract: {describe(exc)}"
            ) from exc


def describe(exc: ValidationError) -> str:
    """One line naming every invalid field, for logs, dead letters and problem details."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def built(model: type[M], values: dict[str, Any]) -> M:
    """A model from values already of its fields' types, every field given, without validation: what
    ``model_construct`` makes, five times faster (it looks up every field's default first), for
    models built by the hundred thousand from values computed in code."""
    made = model.__new__(model)
    object.__setattr__(made, "__dict__", values)
    object.__setattr__(made, "__pydantic_fields_set__", set(values))
    object.__setattr__(made, "__pydantic_extra__", None)
    object.__setattr__(made, "__pydantic_private__", None)
    return made
