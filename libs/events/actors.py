"""Who did something: the subject of a token, a machine client's name, or the service that reacted."""

from __future__ import annotations


def same_person(a: str, b: str) -> bool:
    """Subjects name one person however they are written: ``Analyst-1`` is ``analyst-1``."""
    return a.strip().casefold() == b.strip().casefold()
