-- What collections knows of others' events: open items, disputes, cash, standing, contacts, rates.
CREATE TABLE items (
    customer_id text    NOT NULL,
    invoice_id  text    NOT NULL,
    number      text    NOT NULL,
    currency    text    NOT NULL,
    total       numeric NOT NULL,
    reduced     numeric NOT NULL DEFAULT 0,  -- by payments, credit notes, discounts, write-offs
    issue_date  date    NOT NULL,
    schedule    jsonb   NOT NULL,            -- [[due date, amount], ...]
    first_due   date    NOT NULL,
    PRIMARY KEY (customer_id, invoice_id)
);
CREATE INDEX items_open ON items (customer_id) WHERE total > reduced;

CREATE TABLE disputes (
    dispute_id  text PRIMARY KEY,
    customer_id text NOT NULL,
    invoice_id  text NOT NULL,
    opened_on   date NOT NULL,
    resolved_on date
);
CREATE INDEX disputes_by_customer ON disputes (customer_id);

CREATE TABLE cash (
    customer_id text    NOT NULL,
    payment_id  text    NOT NULL,
    invoice_id  text,               -- NULL: the payment as received
    currency    text    NOT NULL,
    amount      numeric NOT NULL,   -- signed: a withdrawn allocation is negative
    on_date     date    NOT NULL,
    reversed    boolean NOT NULL DEFAULT false
);
CREATE INDEX cash_by_customer ON cash (customer_id, payment_id);

CREATE TABLE standing (
    customer_id    text PRIMARY KEY,
    grade          text,
    holds          text[]  NOT NULL DEFAULT '{}',
    limit_amount   numeric,
    limit_currency text
);

CREATE TABLE contacts (
    customer_id text    NOT NULL,
    contact_id  text    NOT NULL,
    name        text    NOT NULL,
    email       text,
    phone       text,
    billing     boolean NOT NULL,
    retired     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (customer_id, contact_id)
);

CREATE TABLE fx_rates (
    currency  text    NOT NULL,
    rate_date date    NOT NULL,
    rate      numeric NOT NULL,
    PRIMARY KEY (currency, rate_date)
);

-- collections' own: policy versions, cases, steps, the notices to send, tasks, promises, plans.
CREATE TABLE policies (
    version     integer PRIMARY KEY,
    policy      jsonb   NOT NULL,
    released_by text    NOT NULL,
    reason      text    NOT NULL,
    released_on date    NOT NULL
);

CREATE TABLE cases (
    customer_id     text PRIMARY KEY,
    version         integer NOT NULL,
    collector       text,
    level           integer,
    last_contact_on date,
    broken_promises integer NOT NULL DEFAULT 0,
    escalated       boolean NOT NULL DEFAULT false
);
CREATE INDEX cases_by_collector ON cases (collector);

CREATE TABLE steps (
    step_id        text PRIMARY KEY,
    customer_id    text    NOT NULL,
    business_date  date    NOT NULL,
    level          integer NOT NULL,
    status         text    NOT NULL,  -- proposed, approved, skipped, taken
    event          jsonb   NOT NULL
);
CREATE INDEX steps_by_date ON steps (business_date, status);
CREATE INDEX steps_by_customer ON steps (customer_id);

CREATE TABLE notices (
    notice_id       text PRIMARY KEY,
    step_id         text        NOT NULL,
    customer_id     text        NOT NULL,
    channel         text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',  -- pending, sent, failed
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until   timestamptz,
    address         text,
    message_id      text,
    language        text,
    error           text,
    business_date   date        NOT NULL
);
CREATE INDEX notices_pending ON notices (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notices_by_customer ON notices (customer_id);

CREATE TABLE letters (
    notice_id text PRIMARY KEY,
    pdf       bytea NOT NULL
);

CREATE TABLE tasks (
    task_id     text PRIMARY KEY,
    customer_id text NOT NULL,
    kind        text NOT NULL,
    reason      text NOT NULL,
    created_on  date NOT NULL,
    done_on     date
);
CREATE INDEX tasks_open ON tasks (customer_id) WHERE done_on IS NULL;

CREATE TABLE promises (
    promise_id  text PRIMARY KEY,
    customer_id text    NOT NULL,
    outcome     text    NOT NULL
);
CREATE INDEX promises_to_value ON promises (customer_id) WHERE outcome IN ('open', 'reopened', 'kept');

CREATE TABLE plans (
    plan_id     text PRIMARY KEY,
    customer_id text NOT NULL,
    status      text NOT NULL  -- active, completed, defaulted
);
CREATE INDEX plans_active ON plans (customer_id) WHERE status = 'active';
