"""Find a PostgreSQL server and a Kafka-protocol broker, by the three paths of the design.

In order: servers named by the environment (``DATABASE_URL``, ``KAFKA_BOOTSTRAP_SERVERS``);
containers through testcontainers when a Docker engine answers; otherwise the embedded
PostgreSQL and the Tansu broker, started and stopped here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from libs.infra.embedded import EmbeddedPostgres, TansuBroker

log = logging.getLogger(__name__)

POSTGRES_IMAGE = "postgres:18-alpine"
KAFKA_IMAGE = "apache/kafka:4.1.0"

Path_ = Literal["environment", "docker", "embedded"]


@dataclass
class PostgresHandle:
    url: str  # names a database the caller may connect to with CREATE DATABASE rights
    path: Path_
    embedded: EmbeddedPostgres | None = None


@dataclass
class BrokerHandle:
    bootstrap_servers: str
    path: Path_
    embedded: TansuBroker | None = None

    @property
    def restartable(self) -> bool:
        return self.embedded is not None


def _docker_answers() -> bool:
    try:
        import docker  # testcontainers' client; fails fast without an engine

        docker.from_env(timeout=2).ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means no usable engine
        return False


@contextmanager
def postgres_server(
    workdir: Path, *, durable: bool = True, allow_docker: bool = True, password: str | None = None
) -> Iterator[PostgresHandle]:
    """A server whose URL names a database with CREATE DATABASE rights; an embedded one asks for
    ``password`` (a generated one when not given) over TCP."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield PostgresHandle(url=url, path="environment")
        return
    if allow_docker and _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, driver=None) as container:
            yield PostgresHandle(url=container.get_connection_url(), path="docker")
        return
    server = EmbeddedPostgres(workdir / "postgres", durable=durable)
    if password is not None:
        server.password = password
    server.start()
    try:
        yield PostgresHandle(url=server.url, path="embedded", embedded=server)
    finally:
        server.stop()


@contextmanager
def kafka_broker(workdir: Path, *, allow_docker: bool = True) -> Iterator[BrokerHandle]:
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if servers:
        yield BrokerHandle(bootstrap_servers=servers, path="environment")
        return
    if allow_docker and _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            yield BrokerHandle(bootstrap_servers=container.get_bootstrap_server(), path="docker")
        return
    broker = TansuBroker(log_path=workdir / "tansu.log")
    broker.start()
    try:
        yield BrokerHandle(bootstrap_servers=broker.bootstrap_servers, path="embedded", embedded=broker)
    finally:
        broker.stop()
