-- Where an alert is now (the role it went to, its escalations), what alerts remembers of each customer
-- for the rules that compare with the past, who each customer's collector is, and delivery.
ALTER TABLE alerts ADD COLUMN notify text NOT NULL DEFAULT 'credit_analyst';
ALTER TABLE alerts ADD COLUMN level integer NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN waiting_since date;
UPDATE alerts SET waiting_since = raised_on;
CREATE INDEX alerts_unacknowledged ON alerts (customer_id) WHERE closed IS NULL AND acknowledged_by IS NULL;

-- Each day of a customer's scores: the highest, and the lowest overdue share, with their events.
CREATE TABLE scores (
    customer_id    text    NOT NULL,
    scored_on      date    NOT NULL,
    score          numeric NOT NULL,
    event_id       text    NOT NULL,
    overdue_share  numeric,
    share_event_id text,
    PRIMARY KEY (customer_id, scored_on)
);

CREATE TABLE bureau_reports (
    customer_id text NOT NULL,
    provider    text NOT NULL,
    score       integer,
    adverse     text[] NOT NULL,
    event_id    text NOT NULL,
    PRIMARY KEY (customer_id, provider)
);

CREATE TABLE covers (
    customer_id   text    NOT NULL,
    policy_number text    NOT NULL,
    insurer       text    NOT NULL,
    insured       numeric NOT NULL,
    currency      text    NOT NULL,
    expires_on    date    NOT NULL,
    event_id      text    NOT NULL,
    PRIMARY KEY (customer_id, policy_number)
);
CREATE INDEX covers_by_expiry ON covers (expires_on);

CREATE TABLE balances (
    customer_id text PRIMARY KEY,
    balance     numeric NOT NULL
);

CREATE TABLE portfolios (
    customer_id text PRIMARY KEY,
    collector   text NOT NULL
);

-- Dead letters already alerted on, so a redelivered one is not counted twice.
CREATE TABLE dead_letters_seen (
    service text   NOT NULL,
    dlq_id  bigint NOT NULL,
    PRIMARY KEY (service, dlq_id)
);

CREATE TABLE subscriptions (
    subscription_id text PRIMARY KEY,
    channel         text    NOT NULL,
    address         text    NOT NULL,
    role            text,
    person          text,
    portfolio       text,
    severities      text[]  NOT NULL,
    rules           text[]  NOT NULL,
    created_by      text    NOT NULL,
    cancelled       boolean NOT NULL DEFAULT false,
    paused          boolean NOT NULL DEFAULT false,
    failures        integer NOT NULL DEFAULT 0,  -- deliveries in a row that failed every attempt
    last_error      text
);

-- One row per alert event and subscription it matched: delivered at least once, each attempt an event.
CREATE TABLE deliveries (
    delivery_id     text    NOT NULL,  -- the alert event's id: the same on every attempt
    subscription_id text    NOT NULL,
    alert_id        text    NOT NULL,
    payload         jsonb   NOT NULL,
    status          text    NOT NULL DEFAULT 'pending',  -- pending, delivered, failed
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until   timestamptz,
    last_error      text,
    PRIMARY KEY (delivery_id, subscription_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE delivery_attempts (
    subscription_id text    NOT NULL,
    delivery_id     text    NOT NULL,
    alert_id        text    NOT NULL,
    attempt         integer NOT NULL,
    delivered       boolean NOT NULL,
    status          integer,
    error           text,
    at              timestamptz NOT NULL,
    PRIMARY KEY (subscription_id, delivery_id, attempt)
);
