"""Work that arrives together, done together: the mechanism behind group commit.

Callers submit requests one at a time and each waits for its own outcome. While a batch is
being written, the requests that arrive meanwhile queue up and go together in the next one,
so a busy service makes one round trip for many requests and an idle one makes one per
request, without waiting for a timer. A batch answers each request with a result or an
error of its own; should the batch itself fail, each of its requests is tried alone, so one
bad request never fails another.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

Request = TypeVar("Request")
Result = TypeVar("Result")

Outcome: TypeAlias = Result | BaseException


@dataclass
class _Waiting(Generic[Request, Result]):
    request: Request
    done: asyncio.Future[Result]


class Batcher(Generic[Request, Result]):
    """Queues requests and hands them to ``process`` in batches.

    ``process`` takes a batch and answers one outcome per request, in order (a result, or the
    exception that request is to raise). ``apart`` names, for each request, what two requests
    of one batch may not share (a stream, an idempotency key); the later one waits for the next
    batch. At most ``writers`` batches are in flight at once.
    """

    def __init__(
        self,
        process: Callable[[Sequence[Request]], Awaitable[Sequence[Outcome[Result]]]],
        *,
        max_batch: int = 64,
        writers: int = 2,
        apart: Callable[[Request], Hashable | None] = lambda _: None,
    ) -> None:
        self.process = process
        self.max_batch = max_batch
        self.writers = writers
        self.apart = apart
        self._queue: deque[_Waiting[Request, Result]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, request: Request) -> Result:
        """The request's result once its batch is done; its own error is raised."""
        waiting = _Waiting[Request, Result](request, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if len(self._tasks) < self.writers:
            task = asyncio.ensure_future(self._drain())
            self._tasks.add(task)  # held so the task is not collected mid-batch
            task.add_done_callback(self._tasks.discard)
        return await waiting.done

    async def _drain(self) -> None:
        while self._queue:
            batch = self._take()
            if not batch:
                continue
            try:
                outcomes = await self.process([w.request for w in batch])
            except Exception as exc:  # noqa: BLE001 - each request is tried alone and fails on its own
                if len(batch) == 1:
                    outcomes = [exc]
                else:
                    for waiting in batch:
                        if not waiting.done.done():
                            _settle(waiting, (await self._alone(waiting))[0])
                    continue
            for waiting, outcome in zip(batch, outcomes, strict=True):
                _settle(waiting, outcome)

    async def _alone(self, waiting: _Waiting[Request, Result]) -> Sequence[Outcome[Result]]:
        try:
            return await self.process([waiting.request])
        except Exception as exc:  # noqa: BLE001 - handed to the request's caller
            return [exc]

    def _take(self) -> list[_Waiting[Request, Result]]:
        """Up to ``max_batch`` waiting requests in arrival order, none sharing what keeps them apart."""
        batch: list[_Waiting[Request, Result]] = []
        taken: set[Hashable] = set()
        later: list[_Waiting[Request, Result]] = []
        while self._queue and len(batch) < self.max_batch:
            waiting = self._queue.popleft()
            if waiting.done.done():  # the caller gave up waiting
                continue
            key = self.apart(waiting.request)
            if key is not None and key in taken:
                later.append(waiting)
                continue
            if key is not None:
                taken.add(key)
            batch.append(waiting)
        self._queue.extendleft(reversed(later))
        return batch


def _settle(waiting: _Waiting[Request, Result], outcome: Outcome[Result]) -> None:
    if waiting.done.done():
        return
    if isinstance(outcome, BaseException):
        waiting.done.set_exception(outcome)
    else:
        waiting.done.set_result(outcome)
