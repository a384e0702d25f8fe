"""Versioned data kept as one stream of releases (a dunning policy, a rule set): version 1 is what
the service ships with, and each release is the next version, never an edit of one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from libs.events.commands import FoldedStreams
from libs.events.contracts import DomainEvent
from libs.events.store import Store

T = TypeVar("T")


@dataclass(frozen=True)
class Versions(Generic[T]):
    """Every version released, by number."""

    versions: Mapping[int, T]

    @property
    def version(self) -> int:
        return max(self.versions)

    @property
    def current(self) -> T:
        return self.versions[self.version]


def version_stream(
    store: Store, stream_id: str, first: T, released: Callable[[DomainEvent], tuple[int, T] | None]
) -> FoldedStreams[Versions[T]]:
    """The stream ``stream_id`` folded into its versions, from ``first`` as version 1; ``released``
    reads a release event's version and what it released (None for any other event)."""

    def evolve(book: Versions[T], event: DomainEvent) -> Versions[T]:
        found = released(event)
        return book if found is None else Versions({**book.versions, found[0]: found[1]})

    return FoldedStreams(store, stream_of=lambda _: stream_id, initial=lambda _: Versions({1: first}), evolve=evolve)
