"""Who is signed in: sessions kept in the console's memory, named to the browser by a random id only.

The browser never holds a token: its cookie names a session here, which holds the user's access
token for the calls made on their behalf. A restart of the console signs everyone out.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

SIGN_IN_SECONDS = 600  # a sign-in not finished within ten minutes must start again
PENDING_AT_MOST = 10_000  # unfinished sign-ins kept; the oldest are forgotten first


@dataclass(frozen=True)
class Identity:
    subject: str
    name: str
    roles: frozenset[str]


@dataclass
class Session:
    identity: Identity
    access_token: str
    expires_at: float
    sid: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def may(self, roles: tuple[str, ...]) -> bool:
        """As the services decide it: admin always, otherwise one of ``roles``."""
        held = self.identity.roles
        return "admin" in held or bool(held.intersection(roles))


@dataclass(frozen=True)
class PendingSignIn:
    state: str
    verifier: str  # PKCE: the secret whose hash went with the authorization request
    nonce: str
    next_path: str
    started: float


class Sessions:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._pending: dict[str, PendingSignIn] = {}

    def begin(self, next_path: str) -> PendingSignIn:
        self._forget_stale()
        pending = PendingSignIn(
            state=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),
            nonce=secrets.token_urlsafe(32),
            next_path=next_path,
            started=time.monotonic(),
        )
        self._pending[pending.state] = pending
        while len(self._pending) > PENDING_AT_MOST:
            del self._pending[next(iter(self._pending))]
        return pending

    def finish(self, state: str) -> PendingSignIn | None:
        """The sign-in this ``state`` began, once: a state is never accepted twice."""
        pending = self._pending.pop(state, None)
        if pending is None or time.monotonic() - pending.started > SIGN_IN_SECONDS:
            return None
        return pending

    def open(self, identity: Identity, access_token: str, expires_at: float) -> Session:
        self._forget_stale()
        session = Session(identity, access_token, expires_at)
        self._sessions[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        session = self._sessions.get(sid) if sid else None
        if session is not None and session.expires_at <= time.time():
            self.end(session.sid)
            return None
        return session

    def end(self, sid: str) -> None:
        self._sessions.pop(sid, None)

    def _forget_stale(self) -> None:
        now, clock = time.time(), time.monotonic()
        for sid in [s for s, v in self._sessions.items() if v.expires_at <= now]:
            del self._sessions[sid]
        for state in [s for s, p in self._pending.items() if clock - p.started > SIGN_IN_SECONDS]:
            del self._pending[state]
