"""FX rates to the base currency: one far from the rate in force is only proposed, until a second
person confirms it. The rates live in one stream of their own, folded into an ``FxBook``."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from contracts.receivables import FxRateProposed, FxRateRecorded
from libs.events.actors import same_person
from libs.events.contracts import DomainEvent
from services.receivables.domain.account import Refused, Unknown

FX_STREAM = "fx-rates"
FX_KEY = "fx-rates"  # the partition key of rate events, which belong to no customer
CONFIRMATION_ABOVE = Decimal(20)  # percent away from the rate in force: a second person confirms it


@dataclass(frozen=True)
class FxBook:
    """Each currency's rates by date, and the proposals with whether they were confirmed."""

    rates: dict[str, dict[date, Decimal]] = field(default_factory=dict)
    proposals: dict[str, FxRateProposed] = field(default_factory=dict)
    confirmed: frozenset[str] = frozenset()

    def latest(self, currency: str) -> Decimal | None:
        """The rate of the latest date recorded for the currency."""
        dated = self.rates.get(currency)
        return dated[max(dated)] if dated else None


def new_book(_: str) -> FxBook:
    return FxBook()


def evolve(book: FxBook, event: DomainEvent) -> FxBook:
    match event:
        case FxRateRecorded():
            dated = {**book.rates.get(event.currency, {}), event.rate_date: event.rate}
            confirmed = book.confirmed | ({event.proposal_id} if event.proposal_id else set())
            return replace(book, rates={**book.rates, event.currency: dated}, confirmed=confirmed)
        case FxRateProposed():
            return replace(book, proposals={**book.proposals, event.proposal_id: event})
    return book


def record_rate(
    book: FxBook,
    proposal_id: str,
    currency: str,
    base: str,
    rate: Decimal,
    rate_date: date,
    by: str,
    today: date,
) -> list[DomainEvent]:
    """A rate to the base currency; one more than 20 % away from the latest rate of its currency is
    only proposed, as ``proposal_id``, until a second person confirms it."""
    if currency == base:
        raise Refused(f"{currency} is the base currency; its rate is 1")
    if rate_date > today:
        raise Refused(f"a rate dated {rate_date.isoformat()} is after today's business date {today.isoformat()}")
    previous = book.latest(currency)
    if previous is not None and abs(rate - previous) * 100 > previous * CONFIRMATION_ABOVE:
        return [
            FxRateProposed(
                proposal_id=proposal_id,
                currency=currency,
                base_currency=base,
                rate=rate,
                rate_date=rate_date,
                previous_rate=previous,
                change_percent=((rate - previous) * 100 / previous).quantize(Decimal("0.01"), ROUND_HALF_UP),
                proposed_by=by,
                recorded_on=today,
            )
        ]
    return [
        FxRateRecorded(
            currency=currency, base_currency=base, rate=rate, rate_date=rate_date, recorded_on=today, recorded_by=by
        )
    ]


def confirm_rate(book: FxBook, proposal_id: str, by: str, today: date) -> list[DomainEvent]:
    """A second person confirms a proposed rate: from now on it is the rate of its date."""
    proposal = book.proposals.get(proposal_id)
    if proposal is None:
        raise Unknown(f"no FX rate proposal {proposal_id}")
    if proposal_id in book.confirmed:
        raise Refused(f"proposal {proposal_id} is already confirmed")
    if same_person(proposal.proposed_by, by):
        raise Refused(f"{by} proposed this rate; another person confirms it")
    return [
        FxRateRecorded(
            currency=proposal.currency,
            base_currency=proposal.base_currency,
            rate=proposal.rate,
            rate_date=proposal.rate_date,
            recorded_on=today,
            recorded_by=proposal.proposed_by,
            proposal_id=proposal_id,
            confirmed_by=by,
        )
    ]
