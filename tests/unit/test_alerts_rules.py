"""The rules that compare an event with what came before, each raising on its trigger and silent
just below it; escalation of an unacknowledged alert as the days pass; which subscription an alert
goes to, a receiver paused after its failures in a row, and the webhook's signature."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, timedelta
from decimal import Decimal

from immutables import Map

from contracts.alerts import (
    AlertEscalated,
    Audience,
    Concentration,
    DeliveryAttempted,
    ExposureOverLimit,
    InsuranceExpiring,
    LimitUse,
    ReceiverPaused,
    SubscriptionCreated,
    TopConcentration,
)
from contracts.profiles import (
    AdverseRecord,
    BureauReportRecorded,
    CreditReviewDue,
    InsuranceCoverCancelled,
    InsuranceCoverRecorded,
)
from contracts.receivables import InvoiceFellOverdue
from contracts.scoring import CreditCheckDecided, CustomerScored, ScoreInputs
from libs.events.contracts import DomainEvent, Money
from services.alerts.delivery import retry_delay, secret_of, signature
from services.alerts.domain import alert, subscription
from services.alerts.domain.backtest import Observed, replay
from services.alerts.domain.rules import FIRST_RULES
from services.alerts.domain.subscription import Addressed, matches
from services.alerts.domain.triggers import Book, Cover, Memory, expiring, facts_for, remember
from services.alerts.settings import AlertsSettings

DAY = date(2026, 6, 1)
RULES = {rule.rule_id: rule for rule in FIRST_RULES}


def cny(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="CNY")


def scored(score: str, on: date = DAY, balance: str | None = None, overdue: str | None = None) -> CustomerScored:
    return CustomerScored(
        customer_id="C-1",
        score=Decimal(score),
        grade="C",
        previous_grade="C",
        components={},
        weights={},
        policy_version="p",
        inputs=ScoreInputs(
            as_of=on,
            balance=None if balance is None else Decimal(balance),
            overdue=None if overdue is None else Decimal(overdue),
        ),
        cause="test",
    )


def after(*events: DomainEvent, book: Book | None = None) -> tuple[Memory, Book]:
    memory, kept = Memory(), book or Book()
    for n, event in enumerate(events):
        memory, kept = remember(memory, kept, "C-1", event, f"E-{n}")
    return memory, kept


def met(
    rule_id: str, event: DomainEvent, memory: Memory | None = None, book: Book | None = None
) -> dict[str, str] | None:
    found = facts_for(RULES[rule_id], event, "E-NOW", "C-1", memory or Memory(), book or Book(), DAY)
    return None if found is None else {f.name: f.value for f in found.facts}


def test_a_score_drop_of_fifteen_points_within_thirty_days_raises_and_fourteen_does_not() -> None:
    memory, _ = after(scored("70", DAY - timedelta(days=40)), scored("65", DAY - timedelta(days=20)))
    facts = met("score-drop", scored("50"), memory)
    assert facts is not None
    assert facts["highest_score"] == "65 on 2026-05-12"  # the 70 is older than thirty days
    assert facts["drop"] == "15"
    assert met("score-drop", scored("51"), memory) is None
    assert met("score-drop", scored("10")) is None  # no history: no drop


def test_the_overdue_share_up_twenty_points_in_thirty_days_raises_and_nineteen_does_not() -> None:
    memory, _ = after(scored("60", DAY - timedelta(days=10), balance="1000", overdue="100"))
    assert met("overdue-share-rise", scored("55", balance="1000", overdue="300"), memory) == {
        "lowest_overdue_share": "10.00 % on 2026-05-22",
        "overdue_share": "30.00 %",
        "rise": "20.00 %",
    }
    assert met("overdue-share-rise", scored("55", balance="1000", overdue="299"), memory) is None


def check(outcome: str, open_: str, reserved: str, amount: str = "100", limit: str = "1000") -> CreditCheckDecided:
    return CreditCheckDecided(
        decision_id="D-1",
        customer_id="C-1",
        order_ref="SO-1",
        amount=cny(amount),
        amount_in_base=cny(amount),
        outcome=outcome,
        limit=cny(limit),
        open_receivables=cny(open_),
        reserved=cny(reserved),
        available=cny("0"),
        checked_by="erp",
    )


def test_limit_use_at_eighty_percent_and_exposure_over_the_limit() -> None:
    # 600 open + 100 reserved + the approved order of 100 = 80 % of 1,000.
    assert met("limit-use", check("approve", "600", "100")) == {
        "used": "800 CNY",
        "limit": "1000 CNY",
        "use": "80.00 %",
    }
    assert met("limit-use", check("approve", "599.99", "100")) is None
    assert met("limit-use", check("hold", "600", "100")) is None  # a held order is not used
    full = LimitUse(rule_id="full", severity="warning", percent=Decimal(100))
    assert facts_for(full, check("approve", "800", "100"), "E", "C-1", Memory(), Book(), DAY) is not None
    assert facts_for(full, check("approve", "799.99", "100"), "E", "C-1", Memory(), Book(), DAY) is None
    assert met("over-limit", check("review", "900", "100.01")) == {
        "used": "1000.01 CNY",
        "limit": "1000 CNY",
        "over": "0.01 CNY",
    }
    assert met("over-limit", check("review", "900", "100")) is None  # at the limit is not over it
    assert isinstance(RULES["over-limit"], ExposureOverLimit)


def overdue(days: int) -> InvoiceFellOverdue:
    return InvoiceFellOverdue(
        customer_id="C-1",
        recorded_on=DAY,
        invoice_id="INV-1",
        instalment=1,
        due_date=DAY - timedelta(days=days),
        days_past_due=days,
        bucket="61-90",
        open=cny("500.00"),
    )


def test_an_item_more_than_sixty_days_overdue_raises_and_sixty_does_not() -> None:
    assert met("item-overdue", overdue(61)) == {"invoice_id": "INV-1", "days_past_due": "61", "open": "500.00 CNY"}
    assert met("item-overdue", overdue(60)) is None


def report(score: int | None, *records: AdverseRecord, provider: str = "中诚信") -> BureauReportRecorded:
    return BureauReportRecorded(
        customer_id="C-1", report_id="R", provider=provider, report_date=DAY, score=score, adverse_records=records
    )


def test_a_bureau_report_with_a_new_adverse_record_or_a_score_twenty_points_lower() -> None:
    lawsuit = AdverseRecord(kind="lawsuit", date=date(2026, 3, 1), amount=cny("80000.00"))
    arrears = AdverseRecord(kind="tax_arrears", date=date(2026, 5, 1))
    memory, _ = after(report(700, lawsuit))
    assert met("bureau-adverse", report(700, lawsuit), memory) is None  # the same record again
    assert met("bureau-adverse", report(700, lawsuit, arrears), memory) == {
        "provider": "中诚信",
        "tax_arrears": "tax_arrears:2026-05-01:",
    }
    assert met("bureau-adverse", report(700, lawsuit)) is not None  # a first report with a record
    assert met("bureau-score-drop", report(680), memory) == {
        "provider": "中诚信",
        "previous_score": "700",
        "score": "680",
    }
    assert met("bureau-score-drop", report(681), memory) is None
    assert met("bureau-score-drop", report(600, provider="其他"), memory) is None  # another provider's scale


def cover(limit: str, expires_on: date, policy: str = "P-1") -> InsuranceCoverRecorded:
    return InsuranceCoverRecorded(
        customer_id="C-1", insurer="中国信保", policy_number=policy, insured_limit=cny(limit), expires_on=expires_on
    )


def test_insurance_cover_reduced_and_expiring_within_thirty_days() -> None:
    memory, _ = after(cover("500000", DAY + timedelta(days=200)))
    assert met("insurance-reduced", cover("400000", DAY + timedelta(days=365)), memory) == {
        "policy_number": "P-1",
        "previous_limit": "500000 CNY",
        "insured_limit": "400000 CNY",
    }
    assert met("insurance-reduced", cover("500000", DAY + timedelta(days=365)), memory) is None
    assert met("insurance-reduced", cover("100000", DAY + timedelta(days=365), "P-2"), memory) is None
    # Recorded already within thirty days of expiry; recorded thirty-one days before, it waits for the sweep.
    assert met("insurance-expiring", cover("1", DAY + timedelta(days=30))) is not None
    assert met("insurance-expiring", cover("1", DAY + timedelta(days=31))) is None
    rule = RULES["insurance-expiring"]
    assert isinstance(rule, InsuranceExpiring)
    kept = Cover("中国信保", Decimal(1), "CNY", DAY + timedelta(days=31), "E-7")
    assert expiring(rule, kept, "P-1", DAY) is None
    found = expiring(rule, kept, "P-1", DAY + timedelta(days=1))
    assert found is not None
    assert {(f.name, f.value, f.event_id) for f in found} == {
        ("policy_number", "P-1", "E-7"),
        ("expires_on", "2026-07-02", "E-7"),
    }


def test_cover_cancelled_raises_and_is_forgotten_so_it_never_expires() -> None:
    memory, _ = after(cover("500000", DAY + timedelta(days=31)))
    cancelled = InsuranceCoverCancelled(
        customer_id="C-1", insurer="中国信保", policy_number="P-1", cancelled_on=DAY, reason="买方信用恶化"
    )
    assert met("insurance-cancelled", cancelled, memory) == {
        "insurer": "中国信保",
        "policy_number": "P-1",
        "cancelled_on": "2026-06-01",
        "reason": "买方信用恶化",
    }
    assert met("insurance-cancelled", cover("1", DAY + timedelta(days=90))) is None
    memory, _ = remember(memory, Book(), "C-1", cancelled, "E-9")
    assert memory.covers == {}
    expiry = [r for r in FIRST_RULES if isinstance(r, InsuranceExpiring)]
    later = [
        Observed(DAY, "C-1", "E-1", cover("500000", DAY + timedelta(days=31))),
        Observed(DAY, "C-1", "E-2", cancelled),
    ]
    assert replay(expiry, later, DAY, DAY + timedelta(days=5)).alerts == []  # cancelled: nothing expires


def test_a_review_date_passed_raises() -> None:
    assert met("review-overdue", CreditReviewDue(customer_id="C-1", review_on=DAY)) == {"review_on": "2026-06-01"}


def test_concentration_above_ten_percent_and_the_top_ten_above_half_once_twenty_customers_have_a_balance() -> None:
    others = Book(Map({f"C-{n}": Decimal(100) for n in range(2, 22)}))  # 20 others, 2,000 in all
    # 223 of 2,223 is 10.03 %; 222 of 2,222 is 9.99 %.
    assert met("concentration", scored("50", balance="223"), book=others) == {
        "balance": "223",
        "book": "2223",
        "share": "10.03 %",
    }
    assert met("concentration", scored("50", balance="222"), book=others) is None
    few = Book(Map({f"C-{n}": Decimal(100) for n in range(2, 12)}))
    assert met("concentration", scored("50", balance="5000"), book=few) is None  # 11 customers: too few
    rule = RULES["top-concentration"]
    assert isinstance(rule, TopConcentration)
    assert isinstance(RULES["concentration"], Concentration)
    # Top ten: 1,100 + 9 x 100 = 2,000 of 3,100 is 64.52 %; the book is the alert's subject.
    found = facts_for(rule, scored("50", balance="1100"), "E", "C-1", Memory(), others, DAY)
    assert found is not None
    assert found.subject == "BOOK"
    assert {f.name: f.value for f in found.facts}["share"] == "64.52 %"
    even = Book(Map({f"C-{n}": Decimal(100) for n in range(2, 22)}))
    assert facts_for(rule, scored("50", balance="100"), "E", "C-1", Memory(), even, DAY) is None  # 47.62 %


def test_an_unacknowledged_alert_escalates_after_its_rules_days_and_an_acknowledged_one_does_not() -> None:
    rule = RULES["item-overdue"]  # to collectors, two days to acknowledge
    facts = facts_for(rule, overdue(61), "E-1", "C-1", Memory(), Book(), DAY)
    assert facts is not None
    state = alert.new("C-1")
    for event in alert.signal(state, rule, 1, facts.facts, DAY, "AL-1"):
        state = alert.evolve(state, event)
    assert alert.escalate(state, FIRST_RULES, DAY + timedelta(days=1)) == []
    (up,) = alert.escalate(state, FIRST_RULES, DAY + timedelta(days=2))
    assert isinstance(up, AlertEscalated)
    assert (up.to, up.level) == ("credit_manager", 1)
    state = alert.evolve(state, up)
    assert alert.escalate(state, FIRST_RULES, DAY + timedelta(days=3)) == []  # two days from the escalation
    (higher,) = alert.escalate(state, FIRST_RULES, DAY + timedelta(days=4))
    assert isinstance(higher, AlertEscalated)
    assert (higher.to, higher.level) == ("finance_director", 2)
    state = alert.evolve(state, higher)
    assert alert.escalate(state, FIRST_RULES, DAY + timedelta(days=30)) == []  # nobody above

    seen = alert.new("C-1")
    for event in alert.signal(seen, rule, 1, facts.facts, DAY, "AL-2"):
        seen = alert.evolve(seen, event)
    for event in alert.acknowledge(seen, "AL-2", "mei", None):
        seen = alert.evolve(seen, event)
    assert alert.escalate(seen, FIRST_RULES, DAY + timedelta(days=10)) == []


def test_a_subscription_matches_by_role_person_portfolio_severity_and_rule() -> None:
    raised = Addressed("warning", "item-overdue", "collector", None, "mei")
    every = ["info", "warning", "critical"]
    assert matches(every, [], "collector", None, None, raised)
    assert not matches(every, [], "credit_manager", None, None, raised)
    assert matches(every, [], None, None, "mei", raised)
    assert not matches(every, [], None, None, "li", raised)
    assert not matches(every, [], None, "mei", None, raised)  # assigned to nobody yet
    assert matches(every, [], None, "mei", None, Addressed("warning", "item-overdue", "collector", "mei", None))
    assert not matches(["critical"], [], None, None, None, raised)
    assert matches(every, ["item-overdue"], None, None, None, raised)
    assert not matches(every, ["hold-placed"], None, None, None, raised)


def test_a_receiver_is_paused_after_its_failures_in_a_row_and_a_success_clears_them() -> None:
    created = SubscriptionCreated(
        subscription_id="S-1", channel="webhook", address="http://erp/hook", audience=Audience(), by="wang"
    )
    state = subscription.evolve(subscription.new("S-1"), created)

    def attempt(n: int, delivered: bool) -> DeliveryAttempted:
        return DeliveryAttempted(
            subscription_id="S-1", delivery_id="D", alert_id="A", attempt=n, delivered=delivered, error="HTTP 500"
        )

    for n, delivered in enumerate([False, False, True, False, False], start=1):
        events = subscription.attempted(state, attempt(n, delivered), pause_after=3)
        assert len(events) == 1
        for event in events:
            state = subscription.evolve(state, event)
    events = subscription.attempted(state, attempt(6, False), pause_after=3)
    assert isinstance(events[-1], ReceiverPaused)
    assert events[-1].failures == 3


def test_the_signature_is_hmac_sha256_of_the_timestamp_and_body_and_retries_double() -> None:
    settings = AlertsSettings(signing_key="k", retry_seconds=2, retry_max_seconds=60)
    secret = secret_of(settings, "SUB-1")
    assert secret == "whsec_" + hmac.new(b"k", b"SUB-1", hashlib.sha256).hexdigest()
    assert secret != secret_of(settings, "SUB-2")
    expected = hmac.new(secret.encode(), b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert signature(secret, 1700000000, b'{"a":1}') == f"t=1700000000,v1={expected}"
    assert [retry_delay(settings, n) for n in (1, 2, 3, 5, 6)] == [2, 4, 8, 32, 60]


def test_the_backtest_replays_in_order_sweeps_cover_daily_and_counts_per_rule_and_week() -> None:
    start, end = date(2026, 6, 1), date(2026, 6, 30)
    observed = [
        # Before the period: remembered, never raised on.
        Observed(date(2026, 5, 20), "C-1", "E-1", scored("70", date(2026, 5, 20))),
        Observed(date(2026, 5, 25), "C-1", "E-2", cover("500000", date(2026, 7, 10))),
        Observed(date(2026, 5, 26), "C-2", "E-3", overdue(61).model_copy(update={"customer_id": "C-2"})),
        # In it: a drop of 20 points within 30 days of the 70, twice; C-2 past 60 days again.
        Observed(date(2026, 6, 3), "C-1", "E-4", scored("50", date(2026, 6, 3))),
        Observed(date(2026, 6, 9), "C-1", "E-5", scored("49", date(2026, 6, 9))),
        Observed(date(2026, 6, 9), "C-2", "E-6", overdue(91).model_copy(update={"customer_id": "C-2"})),
        Observed(date(2026, 7, 1), "C-2", "E-7", overdue(121).model_copy(update={"customer_id": "C-2"})),
    ]
    found = replay(FIRST_RULES, observed, start, end)
    assert [(a.rule_id, a.subject, a.raised_on, a.count) for a in found.alerts] == [
        ("score-drop", "C-1", date(2026, 6, 3), 2),
        ("item-overdue", "C-2", date(2026, 6, 9), 1),
        ("insurance-expiring", "C-1", date(2026, 6, 10), 1),  # the sweep: 30 days before 07-10
    ]
    assert found.alerts[0].facts[0].event_id == "E-1"  # the 70 it fell from
    assert found.repeats == {"score-drop": 1}
    assert found.weekly() == {
        (date(2026, 6, 1), "score-drop"): 1,
        (date(2026, 6, 8), "item-overdue"): 1,
        (date(2026, 6, 8), "insurance-expiring"): 1,
    }
    only = replay(FIRST_RULES, observed, start, end, customers={"C-2"})
    assert [a.subject for a in only.alerts] == ["C-2"]
