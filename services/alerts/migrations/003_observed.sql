-- The events of other services a rule can look at, in the order alerts received them, with the
-- business date it received each on: the history a rule backtest replays.
CREATE TABLE observed (
    seq            bigserial PRIMARY KEY,
    observed_on    date    NOT NULL,
    customer_id    text    NOT NULL,
    event_id       text    NOT NULL UNIQUE,
    event_type     text    NOT NULL,
    schema_version integer NOT NULL,
    data           jsonb   NOT NULL
);
CREATE INDEX observed_by_day ON observed (observed_on);
