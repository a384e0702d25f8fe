"""Reading several topics in step, by the time their records were sent.

A broker hands a consumer about as many bytes of each partition per fetch, so across topics that
are not ordered with one another (the ERP's invoices, payments and credit notes) one topic's
partitions run ahead of another's in time: during a bulk load its payments arrive before the
invoices they pay, and every document that arrives after a later one costs a replay of its account.
Holding back the partitions that run ahead keeps the documents near the order they were sent in.
Holding back changes when a record is applied, never what applying it does.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import TypeVar

Partition = TypeVar("Partition")

WINDOW_MS = 200  # how far ahead of the slowest partition still behind another may read


def held_back(
    last_sent: Mapping[Partition, int],
    waiting: Mapping[Partition, int],
    held: Set[Partition],
    window_ms: int = WINDOW_MS,
) -> set[Partition]:
    """The partitions to pause after a fetch. ``last_sent`` is the send time (ms) of each partition's
    last record read, ``waiting`` the records each still has on the broker, ``held`` those paused now.

    The floor is the earliest last record of a partition with records waiting: a partition more than
    ``window_ms`` past it waits, and one waiting already goes on waiting until the floor reaches it
    (so a partition is not paused and resumed on every fetch). The partition at the floor is never
    held, so the slowest always moves; with nothing waiting, nothing is held.
    """
    behind = [last_sent[p] for p, left in waiting.items() if left > 0 and p in last_sent]
    if not behind:
        return set()
    floor = min(behind)
    return {p for p, sent in last_sent.items() if sent > floor + window_ms or (p in held and sent > floor)}
