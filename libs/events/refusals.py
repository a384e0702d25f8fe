"""What a decision may answer instead of events, in the domain's words.

A domain raises ``Refused`` for a command it does not accept, ``NotFound`` for one that names
something that does not exist and ``Duplicate`` for one that repeats what another holds; each
service's own refusals derive from these. The service kit answers them, in one place, with
problem+json: 422, 404 and 409.
"""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    """A command that is not accepted; the message says why, in the domain's words."""


class NotFound(Refused):
    """A command or query naming something that does not exist."""


class Duplicate(Refused):
    """A command that would record again what is already recorded elsewhere (a registration
    number held by another customer); ``extra`` names what holds it."""

    def __init__(self, message: str, **extra: str) -> None:
        super().__init__(message)
        self.extra: dict[str, Any] = dict(extra)


class StaleVersion(Exception):
    """The caller expected a stream at a version it is no longer at (a stale If-Match)."""

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"the resource is at version {current}, not {expected}")
        self.expected = expected
        self.current = current


def check_version(expected: int | None, current: int) -> None:
    """Refuse when the caller expected another version than the current one (None: any)."""
    if expected is not None and expected != current:
        raise StaleVersion(expected, current)
