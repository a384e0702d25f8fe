"""A customer's whole history on one list, the latest first: the credit file's events (profiles), the
ledger's movements (receivables), the scores (scoring), the contacts, promises, plans and notices of
the collection case (collections) and the alerts, each as the service that records it answered.

Each entry is dated by its business day where the service gives one (a movement's entry date, a
contact's day) and by the day it was recorded otherwise (a file's event, a score). On one day the
entries follow the order of the services above; within one service, each kind the latest recorded
first (a case: its contacts, then its promises, plans and notices). Every list comes in oldest first
but a case's contacts, which collections lists latest first, and the alerts, which keep the order
the alerts service ranks them in."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

SOURCES = ("profiles", "receivables", "scoring", "collections", "alerts")


@dataclass(frozen=True, slots=True)
class Entry:
    day: date
    source: str  # one of SOURCES
    what: str  # in the page's language
    by: str | None = None


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def whole_timeline(
    file_events: Iterable[Mapping[str, Any]],
    movements: Iterable[Mapping[str, Any]],
    scores: Iterable[Mapping[str, Any]],
    case: Mapping[str, Any] | None,
    alerts: Iterable[Mapping[str, Any]],
    h: Mapping[str, Callable[..., str]],
    limit: int = 60,
) -> list[Entry]:
    """The latest ``limit`` entries; ``h`` the page's formatters (``t``, ``c``, ``money``)."""
    t, c, money = h["t"], h["c"], h["money"]
    found: list[Entry] = [
        Entry(_day(e["occurred_at"]), "profiles", c("file_event", e["type"].rpartition(".")[2]), e.get("by"))
        for e in reversed(list(file_events))
    ]
    found += [
        Entry(
            _day(m["entry_date"]),
            "receivables",
            f"{c('movement', m['kind'])} {m['reference']} {money(m['amount'], m['currency'])}",
        )
        for m in reversed(list(movements))
    ]
    found += [
        Entry(_day(s["scored_at"]), "scoring", f"{t('score')} {s['score']} · {t('grade')} {s['grade']}")
        for s in reversed(list(scores))
    ]
    if case:
        found += [
            Entry(
                _day(x["contacted_on"]),
                "collections",
                f"{c('channel', x['channel'])} · {c('outcome', x['outcome'])}",
                x["by"],
            )
            for x in case.get("contacts", [])
        ]
        found += [
            Entry(_day(p["made_on"]), "collections", f"{t('promise')} {money(p['amount'])} · {h['day'](p['due_date'])}")
            for p in reversed(case.get("promises", []))
        ]
        found += [
            Entry(_day(p["agreed_on"]), "collections", f"{t('plan')} · {len(p['instalments'])} {t('instalments')}")
            for p in reversed(case.get("plans", []))
        ]
        found += [
            Entry(_day(n["business_date"]), "collections", f"{t('notice')} · {c('channel', n['channel'])}")
            for n in reversed(case.get("notices", []))
        ]
    found += [Entry(_day(a["raised_on"]), "alerts", f"{c('severity', a['severity'])} · {a['rule_id']}") for a in alerts]
    order = {source: n for n, source in enumerate(SOURCES)}
    # sorted() is stable: within a day and a service the order built above stands
    return sorted(found, key=lambda e: (-e.day.toordinal(), order[e.source]))[:limit]
