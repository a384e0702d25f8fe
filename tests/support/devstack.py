"""``make dev`` run as a user runs it: its supervisor (``tools.dev``) as a process of its own,
its output read line by line."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tools.dev import SERVICES, free_base_port

__all__ = ["SERVICES", "DevStack", "free_base_port", "with_password"]


class DevStack:
    def __init__(self, directory: Path, base_port: int, demo: str = "") -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
        env |= {"CREDO_DEV_DIR": str(directory), "CREDO_DEV_BASE_PORT": str(base_port), "CREDO_DEV_DEMO": demo}
        self.base_port = base_port
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.dev"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, within: float) -> re.Match[str]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.output.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern!r} within {within} s:\n{''.join(self.output)[-3000:]}")

    def printed(self) -> str:
        """Everything it printed so far, the lines no wait has read included."""
        while not self.lines.empty():
            self.output.append(self.lines.get_nowait())
        return "".join(self.output)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.base_port + SERVICES.index(service) + 1}"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.wait_for(r"credo dev \| stopped", within=60)
        assert self.process.wait(30) == 0


def with_password(shown: str, directory: Path) -> str:
    """The server's URL as make dev prints it, with the password it keeps in its secrets."""
    assert "***" in shown, "make dev must not print the database password"
    return shown.replace("***", json.loads((directory / "secrets.json").read_text())["postgres_password"])
