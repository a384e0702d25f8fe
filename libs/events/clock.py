"""The business clock: one source of 'now' and 'today' that tests and demos can set.

``CREDO_BUSINESS_DATE`` fixes the business date for a process (``2026-11-23``), or shifts
it from the system date (``+30d``, ``-7d``); unset, the clock follows the system.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from libs.events.refusals import Refused


class BusinessClock(Protocol):
    def now(self) -> datetime: ...

    def today(self) -> date: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return self.now().date()


class SettableClock:
    """A clock that runs from a set instant, or stands still at it when ``frozen``."""

    def __init__(self, start: datetime | date | None = None, *, frozen: bool = False) -> None:
        self._frozen = frozen
        self._offset = timedelta(0)
        self._at: datetime | None = None
        if start is not None:
            self.set(start)

    def set(self, instant: datetime | date) -> None:
        if not isinstance(instant, datetime):
            instant = datetime.combine(instant, time(9, 0), UTC)
        if instant.tzinfo is None:
            raise ValueError("a business instant needs a time zone")
        if self._frozen:
            self._at = instant
        else:
            self._offset = instant - datetime.now(UTC)

    def advance(self, delta: timedelta) -> None:
        if self._frozen:
            self._at = self.now() + delta
        else:
            self._offset += delta

    def now(self) -> datetime:
        if self._frozen and self._at is not None:
            return self._at
        return datetime.now(UTC) + self._offset

    def today(self) -> date:
        return self.now().date()


_SHIFT = re.compile(r"^([+-])(\d+)d$")


def clock_from_setting(setting: str | None) -> BusinessClock:
    """Build the clock named by a ``CREDO_BUSINESS_DATE``-style setting."""
    if not setting:
        return SystemClock()
    clock = SettableClock()
    shift = _SHIFT.match(setting.strip())
    if shift:
        days = int(shift.group(2)) * (1 if shift.group(1) == "+" else -1)
        clock.advance(timedelta(days=days))
        return clock
    try:
        clock.set(date.fromisoformat(setting.strip()))
    except ValueError:
        raise ValueError(f"business date setting {setting!r} is neither YYYY-MM-DD nor ±Nd") from None
    return clock


def check_replay_period(start: date, end: date, today: date, max_days: int) -> None:
    """A backtest's period: from ``start`` to ``end`` in order, up to today, at most ``max_days`` days."""
    if end > today:
        raise Refused(f"to: {end} is after today ({today}); a backtest replays what was recorded")
    if start > end:
        raise Refused(f"from: {start} is after to ({end})")
    if (end - start).days >= max_days:
        raise Refused(f"to: at most {max_days} days from {start}, not {(end - start).days + 1}")
