-- The event store: every fact this service decided, in stream order.
CREATE TABLE IF NOT EXISTS events (
    position       bigint GENERATED ALWAYS AS IDENTITY,
    stream_id      text        NOT NULL,
    version        integer     NOT NULL CHECK (version > 0),
    event_id       uuid        NOT NULL,
    event_type     text        NOT NULL,
    schema_version integer     NOT NULL CHECK (schema_version > 0),
    customer_id    text        NOT NULL,
    topic          text        NOT NULL,
    data           jsonb       NOT NULL,
    occurred_at    timestamptz NOT NULL,
    correlation_id text,
    causation_id   text,
    traceparent    text,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_stream_version_key PRIMARY KEY (stream_id, version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS events_position_idx ON events (position);
CREATE INDEX IF NOT EXISTS events_customer_idx ON events (customer_id, position);

-- Rows to publish, written in the same transaction as the events they point to.
CREATE TABLE IF NOT EXISTS outbox (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    position bigint NOT NULL
);

-- Messages a consumer could not apply, and the later messages of the same customer
-- that wait behind them.
CREATE TABLE IF NOT EXISTS dead_letters (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer       text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    "offset"       bigint      NOT NULL,
    customer_id    text,
    event_id       text,
    event_type     text,
    stream_id      text,
    stream_version integer,
    key            bytea,
    value          bytea,
    headers        jsonb       NOT NULL DEFAULT '[]',
    status         text        NOT NULL CHECK (status IN ('dead', 'waiting', 'redrive', 'resolved')),
    reason         text        NOT NULL,
    error_type     text        NOT NULL,
    attempts       integer     NOT NULL DEFAULT 0,
    published      boolean     NOT NULL DEFAULT false,  -- copied to the <service>.dlq topic
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dead_letters_source_key UNIQUE (consumer, topic, partition, "offset")
);
CREATE INDEX IF NOT EXISTS dead_letters_open_idx ON dead_letters (consumer, customer_id, id)
    WHERE status <> 'resolved';

-- The last business date each scheduled sweep has completed.
CREATE TABLE IF NOT EXISTS sweeps (
    name           text PRIMARY KEY,
    swept_through  date        NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Wake the relay when rows are queued; it also polls, so a lost notification only delays.
CREATE OR REPLACE FUNCTION credo_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('credo_outbox', '');
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION credo_outbox_notify();
