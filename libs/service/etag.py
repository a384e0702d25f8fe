"""ETag and If-Match carry a stream's version, for safe concurrent updates.

A GET answers ``ETag: "7"``; an update sends ``If-Match: "7"``. A stale If-Match is answered
412 before anything runs; a change that races past it still meets the event store's
expected-version check and is answered 409. Both carry the current version.
"""

from __future__ import annotations

import re

from fastapi import Request

from libs.service.errors import Problem

_ETAG = re.compile(r'^(?:W/)?"(\d+)"$')


def etag(version: int) -> str:
    return f'"{version}"'


def if_match_version(request: Request, *, required: bool = False) -> int | None:
    """The version an update expects, from If-Match; None for ``*`` or when absent."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        if required and raw is None:
            raise Problem(
                428,
                "Precondition required",
                'send If-Match with the ETag you read, e.g. If-Match: "3"',
                kind="precondition-required",
            )
        return None
    found = _ETAG.match(raw.strip())
    if not found:
        raise Problem(400, "Invalid If-Match", f'{raw!r} is not an ETag such as "3"', kind="invalid-if-match")
    return int(found.group(1))
