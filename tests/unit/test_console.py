"""The console's pure parts: formatting for each locale, PKCE, the sign-in's single-use state, the
identity an ID token gives, where a sign-in may return to, and reading an event stream."""

from __future__ import annotations

import ast
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import get_args

import pytest

from contracts import receivables
from contracts.profiles import Status
from services.console.backends import Refused
from services.console.deps import safe_next
from services.console.i18n import CHOICES, WORDS, day, helpers, money, number, percent
from services.console.pages import _sse_messages, month_start
from services.console.sessions import Identity, Sessions
from services.console.signin import SignInFailed, code_challenge, identity_of
from services.console.timeline import whole_timeline
from services.console.timing import covered
from services.scoring.domain.scorecard import Component


def test_money_keeps_the_minor_unit_of_its_currency_in_each_locale() -> None:
    assert money("zh-CN", "1388934.3", "CNY") == "¥1,388,934.30"
    assert money("en", "1388934.32", "CNY") == "CN¥1,388,934.32"
    assert money("en", {"amount": "1200", "currency": "USD"}) == "US$1,200.00"
    assert money("zh-CN", "5", "JPY") == "JP¥5"  # no minor unit
    assert money("en", None, "CNY") == "—"  # a missing figure is a dash, never zero


def test_dates_numbers_and_percentages_are_formatted_for_the_locale() -> None:
    assert day("zh-CN", "2026-04-17") == "2026年4月17日"
    assert day("en", "2026-04-17") == "17 Apr 2026"
    assert number("en", "73.7142") == "73.71"
    assert number("zh-CN", None) == "—"
    assert percent("en", "55.93", 2) == "55.93%"


def test_every_word_has_both_languages() -> None:
    assert all(zh and en for zh, en in WORDS.values())
    assert all(zh and en for words in CHOICES.values() for zh, en in words.values())


def test_every_status_reason_and_movement_a_customer_page_shows_is_said_in_both_languages() -> None:
    assert set(get_args(Status)) <= set(CHOICES["customer_status"])
    assert set(get_args(Component)) <= set(CHOICES["score_reason"])
    source = Path(receivables.__file__).read_text(encoding="utf-8")
    kinds = {
        node.args[0].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Movement"
        if node.args and isinstance(node.args[0], ast.Constant)
    }
    assert {"invoice", "payment", "credit_note", "refund"} <= kinds  # the scan finds the ledger's lines
    assert kinds | receivables.INTERNAL <= set(CHOICES["movement"]), kinds - set(CHOICES["movement"])
    zh = helpers("zh-CN")["c"]
    assert (zh("customer_status", "on_hold"), zh("score_reason", "delinquency")) == ("暂停", "逾期情况")


def test_every_kind_of_refusal_a_service_answers_is_said_in_both_languages() -> None:
    root = Path(__file__).resolve().parents[2]
    named = {
        keyword.value.value
        for path in [*root.glob("services/*/**/*.py"), *root.glob("libs/**/*.py")]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("Problem", "problem_response")
        for keyword in node.keywords
        if keyword.arg == "kind" and isinstance(keyword.value, ast.Constant)
    }
    assert {"refused", "not-found", "invalid-date", "no-fx-rate"} <= named  # the scan finds them
    assert named <= set(CHOICES["problem"]), named - set(CHOICES["problem"])
    refused = Refused(403, {"type": "https://credo.example/problems/forbidden", "detail": "needs collector"})
    assert (refused.kind, refused.detail) == ("forbidden", "needs collector")


def test_pkce_challenge_is_rfc_7636s_s256() -> None:
    # The example of RFC 7636, appendix B.
    assert (
        code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_a_sign_in_state_is_accepted_once() -> None:
    sessions = Sessions()
    pending = sessions.begin("/worklist")
    assert sessions.finish("not-a-state") is None
    assert sessions.finish(pending.state) == pending
    assert sessions.finish(pending.state) is None


def test_a_session_ends_when_its_token_expires() -> None:
    sessions = Sessions()
    who = Identity("mei", "Mei", frozenset({"collector"}))
    live = sessions.open(who, "token", time.time() + 60)
    gone = sessions.open(who, "token", time.time() - 1)
    assert sessions.get(live.sid) is live
    assert sessions.get(gone.sid) is None
    assert sessions.get(None) is None
    assert live.may(("collector", "credit_manager"))
    assert not live.may(("credit_manager",))


def test_identity_takes_known_roles_from_the_configured_claim() -> None:
    found = identity_of({"sub": "wang", "name": "王经理", "groups": ["credit_manager", "root"]}, "groups")
    assert found == Identity("wang", "王经理", frozenset({"credit_manager"}))
    assert identity_of({"sub": "li", "roles": "credit_analyst viewer"}, "roles").roles == {"credit_analyst", "viewer"}
    with pytest.raises(SignInFailed, match="roles claim"):
        identity_of({"sub": "x", "roles": {"admin": True}}, "roles")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/customers/C-1?as_of=2026-03-31", "/customers/C-1?as_of=2026-03-31"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        (None, "/"),
    ],
)
def test_a_sign_in_returns_only_to_a_path_of_the_console(given: str | None, kept: str) -> None:
    assert safe_next(given) == kept


async def test_event_stream_messages_are_read_whole() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in [": ping", "", "id: 7", "event: raised", 'data: {"a":', "data: 1}", "", "data: x", ""]:
            yield line

    found = [m async for m in _sse_messages(lines())]
    assert found == [("7", "raised", '{"a":\n1}'), ("7", "message", "x")]


def test_month_start_walks_back_across_years() -> None:
    assert month_start(date(2026, 4, 10), 11) == date(2025, 5, 1)
    assert month_start(date(2026, 1, 31), 0) == date(2026, 1, 1)


def test_upstream_time_counts_calls_made_at_once_once() -> None:
    assert covered([(0.0, 1.0), (0.5, 1.5), (3.0, 4.0), (3.2, 3.4)]) == 2.5
    assert covered([]) == 0.0


def test_the_whole_timeline_puts_every_service_on_one_list_the_latest_day_first() -> None:
    file_events = [
        {"type": "credo.profiles.CustomerRegistered", "occurred_at": "2026-03-01T09:00:00+00:00", "by": "li"},
        {"type": "credo.profiles.ContactAdded", "occurred_at": "2026-03-05T10:00:00+00:00", "by": "li"},
    ]
    movements = [
        {"entry_date": "2026-03-02", "kind": "invoice", "reference": "INV-1", "amount": "1000.00", "currency": "CNY"},
        {"entry_date": "2026-03-05", "kind": "payment", "reference": "PAY-1", "amount": "-400.00", "currency": "CNY"},
    ]
    scores = [{"scored_at": "2026-03-05T11:00:00+00:00", "score": 71, "grade": "B"}]
    case = {
        "contacts": [  # as collections lists them, the latest first
            {"contacted_on": "2026-03-06", "channel": "call", "outcome": "promises_to_pay", "by": "mei"},
            {"contacted_on": "2026-03-04", "channel": "email", "outcome": "no_answer", "by": "mei"},
        ],
        "promises": [
            {"made_on": "2026-03-06", "amount": {"amount": "600.00", "currency": "CNY"}, "due_date": "2026-03-13"}
        ],
        "plans": [],
        "notices": [{"business_date": "2026-03-04", "channel": "email"}],
    }
    alerts = [{"raised_on": "2026-03-05", "severity": "warning", "rule_id": "overdue"}]
    found = whole_timeline(file_events, movements, scores, case, alerts, helpers("en"))
    assert [(e.day.isoformat(), e.source) for e in found] == [
        ("2026-03-06", "collections"),  # a case lists its contacts, then promises, plans, notices
        ("2026-03-06", "collections"),
        ("2026-03-05", "profiles"),
        ("2026-03-05", "receivables"),
        ("2026-03-05", "scoring"),
        ("2026-03-05", "alerts"),
        ("2026-03-04", "collections"),
        ("2026-03-04", "collections"),
        ("2026-03-02", "receivables"),
        ("2026-03-01", "profiles"),
    ]
    assert found[0].by == "mei"
    assert "Call" in found[0].what
    assert found[1].what.startswith("Promise")
    assert "600.00" in found[1].what
    assert "PAY-1" in found[3].what
    assert "400.00" in found[3].what
    assert found[4].what == "Score 71 · Grade B"
    assert len(whole_timeline(file_events, movements, scores, case, alerts, helpers("en"), limit=3)) == 3
