"""Named crash points for recovery tests.

``CREDO_FAILPOINTS=relay.after_publish`` (comma-separated) makes the process kill itself
with SIGKILL the first time it reaches that point, so a test can prove what survives a
crash at exactly the worst moment. Unset, a failpoint costs one set lookup.
"""

from __future__ import annotations

import os
import signal

_ARMED = frozenset(p.strip() for p in os.environ.get("CREDO_FAILPOINTS", "").split(",") if p.strip())


def failpoint(name: str) -> None:
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
