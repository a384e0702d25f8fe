-- What a read model has applied: its position in each partition it consumes (with the id
-- of the last event there, to recognise a broker log that was replaced), and the last
-- version of every stream it has seen, to drop duplicates.
CREATE TABLE IF NOT EXISTS consumer_positions (
    consumer      text    NOT NULL,
    topic         text    NOT NULL,
    partition     integer NOT NULL,
    next_offset   bigint  NOT NULL,
    last_event_id text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);
CREATE TABLE IF NOT EXISTS stream_positions (
    consumer     text    NOT NULL,
    stream_id    text    NOT NULL,
    last_version integer NOT NULL,
    PRIMARY KEY (consumer, stream_id)
);
CREATE TABLE IF NOT EXISTS tracking_counters (
    consumer   text   NOT NULL,
    counter    text   NOT NULL,
    value      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer, counter)
);
