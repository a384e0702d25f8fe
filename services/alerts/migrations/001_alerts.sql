-- alerts' own read model: the rule set's versions, each alert as it stands, and what happened to it.
CREATE TABLE rule_sets (
    version     integer PRIMARY KEY,
    rules       jsonb   NOT NULL,
    released_by text    NOT NULL,
    reason      text    NOT NULL,
    released_on date    NOT NULL
);

CREATE TABLE alerts (
    alert_id        text PRIMARY KEY,
    customer_id     text    NOT NULL,
    rule_id         text    NOT NULL,
    rule_version    integer NOT NULL,
    kind            text    NOT NULL,
    severity        text    NOT NULL,
    count           integer NOT NULL DEFAULT 1,
    facts           jsonb   NOT NULL,  -- the latest facts that met the rule
    raised_on       date    NOT NULL,
    last_seen_on    date    NOT NULL,
    acknowledged_by text,
    assignee        text,
    closed          text,              -- resolved, suppressed
    closed_by       text,
    closed_note     text
);
CREATE INDEX alerts_by_customer ON alerts (customer_id);
CREATE INDEX alerts_open ON alerts (severity, raised_on) WHERE closed IS NULL;

CREATE TABLE alert_history (
    alert_id   text    NOT NULL,
    position   bigint  NOT NULL,  -- the event's position in the store
    event_type text    NOT NULL,
    by_whom    text,
    detail     text,
    at         timestamptz NOT NULL,
    PRIMARY KEY (alert_id, position)
);
