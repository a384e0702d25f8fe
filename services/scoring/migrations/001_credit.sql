-- scoring's read model: the credit accounts it decides, and the facts it scores them on,
-- projected from profiles.events and receivables.events. Amounts of limits, exposure and
-- checks are in the base currency.

CREATE TABLE credit_accounts (
    customer_id       text PRIMARY KEY,
    account_version   integer     NOT NULL DEFAULT 0,   -- of the stream credit-account-<id>
    score_version     integer     NOT NULL DEFAULT 0,   -- of the stream credit-score-<id>
    score             numeric,
    grade             text,
    reasons           jsonb       NOT NULL DEFAULT '[]',
    components        jsonb       NOT NULL DEFAULT '{}',
    left_out          jsonb       NOT NULL DEFAULT '[]',
    policy_version    text,
    inputs_digest     text,
    scored_at         timestamptz,
    limit_amount      numeric,
    standing_limit    numeric,
    limit_currency    text,
    limit_expires_on  date,
    limit_reason      text,
    credit_days       integer,
    discount_percent  numeric,
    discount_days     integer,
    holds             jsonb       NOT NULL DEFAULT '{}',  -- hold id -> {reason, by, placed_at}
    -- What a credit check reads, on the row it locks: the receivables per currency (what the
    -- customer owes net of unapplied cash, as decimal strings) and the reservations of approved
    -- orders not yet invoiced (decision id -> [order ref, amount in base, reserved until]).
    balances          jsonb       NOT NULL DEFAULT '{}',
    reservations      jsonb       NOT NULL DEFAULT '{}',
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE score_history (
    customer_id    text        NOT NULL,
    version        integer     NOT NULL,
    score          numeric     NOT NULL,
    grade          text        NOT NULL,
    previous_grade text,
    reasons        jsonb       NOT NULL,
    components     jsonb       NOT NULL,
    weights        jsonb       NOT NULL,
    left_out       jsonb       NOT NULL,
    policy_version text        NOT NULL,
    inputs         jsonb       NOT NULL,
    cause          text        NOT NULL,
    scored_at      timestamptz NOT NULL,
    PRIMARY KEY (customer_id, version)
);

CREATE TABLE limit_requests (
    request_id    text PRIMARY KEY,
    customer_id   text        NOT NULL,
    kind          text        NOT NULL,
    amount        numeric,
    currency      text,
    expires_on    date,
    credit_days   integer,
    discount_percent numeric,
    discount_days integer,
    requested_by  text        NOT NULL,
    reason        text        NOT NULL,
    waiting_for   text        NOT NULL,
    status        text        NOT NULL DEFAULT 'pending',
    steps         jsonb       NOT NULL DEFAULT '[]',
    requested_at  timestamptz NOT NULL,
    decided_at    timestamptz
);
CREATE INDEX limit_requests_customer ON limit_requests (customer_id, requested_at);
CREATE INDEX limit_requests_waiting ON limit_requests (waiting_for, requested_at) WHERE status = 'pending';

CREATE TABLE credit_checks (
    decision_id      text PRIMARY KEY,
    customer_id      text        NOT NULL,
    order_ref        text        NOT NULL,
    amount           numeric     NOT NULL,
    currency         text        NOT NULL,
    amount_in_base   numeric     NOT NULL,
    outcome          text        NOT NULL,
    available        numeric     NOT NULL,
    reasons          jsonb       NOT NULL,
    reserved_until   date,
    released_on      date,
    released_reason  text,
    checked_by       text        NOT NULL,
    decided_at       timestamptz NOT NULL
);
-- What an approved order still reserves: read on every check, under the account's row lock.
CREATE INDEX credit_checks_reserving ON credit_checks (customer_id, order_ref)
    WHERE outcome = 'approve' AND released_on IS NULL;

-- The facts scores and exposure are computed from.

CREATE TABLE fx_rates (
    currency  text    NOT NULL,
    rate_date date    NOT NULL,
    rate      numeric NOT NULL,   -- units of the base currency per unit of currency
    PRIMARY KEY (currency, rate_date)
);

CREATE TABLE invoices (
    customer_id text    NOT NULL,
    invoice_id  text    NOT NULL,
    currency    text    NOT NULL,
    total       numeric NOT NULL,
    open        numeric NOT NULL,
    issue_date  date    NOT NULL,
    schedule    jsonb   NOT NULL,  -- [[due date, amount], ...]
    final_due   date    NOT NULL,
    written_off boolean NOT NULL DEFAULT false,
    PRIMARY KEY (customer_id, invoice_id)
);

CREATE TABLE payment_experiences (
    customer_id       text    NOT NULL,
    invoice_id        text    NOT NULL,
    amount            numeric NOT NULL,
    currency          text    NOT NULL,
    days_beyond_terms integer NOT NULL,
    paid_on           date    NOT NULL,
    PRIMARY KEY (customer_id, invoice_id)
);

CREATE TABLE credit_facts (
    customer_id        text PRIMARY KEY,
    customer_since     date,
    first_invoice_on   date,
    statement_period   date,
    altman_z           numeric,
    current_ratio      numeric,
    net_worth          numeric,
    net_worth_currency text,
    bureau_date        date,
    bureau_score       integer,
    adverse_records    integer NOT NULL DEFAULT 0,
    insured_limit      numeric,
    insured_currency   text,
    insured_until      date
);
