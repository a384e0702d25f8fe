"""Event contracts: frozen pydantic models, a registry by stable type name, upcasting.

An event's type name (``receivables.InvoiceIssued``) and schema version are part of its
published contract. Stored and published events carry both; reading an older version runs
the registered upcasters in order until the payload matches the current model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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
    field_serializer,
    field_validator,
)

JsonObject = dict[str, Any]
Upcaster = Callable[[JsonObject], JsonObject]
E = TypeVar("E", bound=type["DomainEvent"])


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


@lru_cache(maxsize=1)
def _currency_codes() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


def is_currency_code(code: str) -> bool:
    return code in _currency_codes()


def _iso_4217(value: str) -> str:
    if not is_currency_code(value):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


CurrencyCode = Annotated[str, AfterValidator(_iso_4217)]

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


# A decimal that arrives as a string or an integer: a float has already lost its exactness; it
# travels as fixed-point text, never "8.0E+5".
ExactDecimal = Annotated[
    Decimal, BeforeValidator(_not_a_float), PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json")
]


class Money(BaseModel):
    """An amount in a currency. The amount travels as a decimal string, never a float."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Decimal
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
