"""The shared input rules, without I/O: bounds, currencies, NUL detection, canonical bodies."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from libs.events.contracts import (
    AcceptedMoney,
    BoundedDecimal,
    BusinessDate,
    CalendarDate,
    Money,
    is_invoicing_currency,
)
from libs.service.guards import nul_fields
from libs.service.idempotency import canonical, request_fingerprint


@pytest.mark.parametrize("code", ["XAU", "XAG", "XDR", "XTS", "XXX", "XBA", "CHE", "USN", "MRJ", "cny"])
def test_codes_that_are_no_ones_money_are_not_currencies(code: str) -> None:
    assert not is_invoicing_currency(code)


@pytest.mark.parametrize("code", ["CNY", "USD", "EUR", "JPY", "KWD", "XOF", "XAF", "XCD", "XPF"])
def test_currencies_people_are_invoiced_in_are(code: str) -> None:
    assert is_invoicing_currency(code)


@pytest.mark.parametrize("text", ["1" * 16, "1e999999", "-1E+15", "NaN", "Infinity", "0.0000000000001"])
def test_decimals_out_of_bounds_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(BoundedDecimal).validate_python(text)


def test_decimals_within_bounds_stay_exact() -> None:
    assert TypeAdapter(BoundedDecimal).validate_python("999999999999999.999999999999") == Decimal(
        "999999999999999.999999999999"
    )


def test_money_is_refused_beyond_its_minor_unit_and_bounds_and_outside_money() -> None:
    accepted = TypeAdapter(AcceptedMoney)
    assert accepted.validate_python({"amount": "10.50", "currency": "CNY"}) == Money.of("10.50", "CNY")
    for amount, currency in (("10.505", "CNY"), ("1.5", "JPY"), ("1e15", "CNY"), ("10", "XAU")):
        with pytest.raises(ValidationError):
            accepted.validate_python({"amount": amount, "currency": currency})
    assert Money.of("10", "XAU").currency == "XAU"  # an event once written in it still reads


def test_dates_have_their_plausible_ranges() -> None:
    business, history = TypeAdapter(BusinessDate), TypeAdapter(CalendarDate)
    assert business.validate_python("2000-01-01") == date(2000, 1, 1)
    assert history.validate_python("1950-06-30") == date(1950, 6, 30)
    for day in ("1999-12-31", "2100-01-01", "0001-01-01", "9999-12-31"):
        with pytest.raises(ValidationError):
            business.validate_python(day)
    with pytest.raises(ValidationError):
        history.validate_python("1899-12-31")


def test_a_nul_is_found_wherever_it_hides_in_a_body() -> None:
    body = {"legal_name": "a\x00b", "contacts": [{"name": "ok"}, {"name": "\x00"}], "k\x00": 1}
    assert sorted(nul_fields(body, "body")) == ["body", "body.contacts.1.name", "body.legal_name"]
    assert list(nul_fields({"name": "fine"}, "body")) == []


def test_the_same_json_in_another_spelling_is_the_same_request() -> None:
    one = b'{"a": 1, "b": {"c": "x", "d": [1, 2]}}'
    other = b'{"b":{"d":[1,2],"c":"x"},"a":1}'
    assert canonical(one) == canonical(other)
    assert request_fingerprint("POST", "/x", one) == request_fingerprint("POST", "/x", other)
    assert request_fingerprint("POST", "/x", one) != request_fingerprint("POST", "/x", b'{"a": 2}')
    assert canonical(b"not json") == b"not json"
