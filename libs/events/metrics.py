"""Prometheus metrics of the event backbone, exported by every service's /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS_APPENDED = Counter("credo_events_appended_total", "Events appended to the event store", ["topic"])
RELAY_PUBLISHED = Counter("credo_relay_published_total", "Events the outbox relay published", ["topic"])
RELAY_BACKLOG = Gauge("credo_relay_backlog", "Outbox rows waiting to be published")
RELAY_LEADER = Gauge("credo_relay_leader", "1 while this process holds the relay's leadership")
CONSUMER_LAG = Gauge(
    "credo_consumer_lag", "Messages behind the end of the partition", ["consumer", "topic", "partition"]
)
CONSUMED = Counter(
    "credo_consumer_events_total", "Messages a consumer took from Kafka, by outcome", ["consumer", "outcome"]
)
VERSION_GAPS = Counter(
    "credo_consumer_version_gaps_total", "Stream versions that arrived with versions missing", ["consumer"]
)
DEAD_LETTERS = Counter("credo_dead_letters_total", "Messages sent to the dead-letter topic", ["consumer"])
LOG_RESETS = Counter(
    "credo_consumer_log_resets_total",
    "Partitions re-read from the start because the broker lost or replaced its log",
    ["consumer", "topic"],
)
