"""`make dev`: PostgreSQL and the Kafka-protocol broker for running Credo on one machine.

Takes servers from ``DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS`` when given; otherwise
starts the embedded PostgreSQL (data kept in .dev/postgres, surviving restarts) and the
Tansu broker (memory only). Runs until Ctrl-C, then stops what it started.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from libs.infra.provision import kafka_broker, postgres_server

DEV_DIR = Path(__file__).resolve().parents[2] / ".dev"


def main() -> None:
    DEV_DIR.mkdir(exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Docker users run docker-compose.yml instead; here the data must outlive the process.
    with (
        postgres_server(DEV_DIR, durable=True, allow_docker=False) as pg,
        kafka_broker(DEV_DIR, allow_docker=False) as broker,
    ):
        print(f"PostgreSQL  {pg.url}   ({pg.path})")
        print(f"Kafka       {broker.bootstrap_servers}   ({broker.path})")
        print("Ready. Ctrl-C stops everything.", flush=True)
        stop.wait()
    print("Stopped.")


if __name__ == "__main__":
    main()
