-- The receivables ledger's read model: written in the same transaction as the account's events.

CREATE TABLE accounts (
    customer_id text PRIMARY KEY,
    version     integer NOT NULL,  -- the account stream's version the rows below reflect
    updated_at  timestamptz NOT NULL
);

CREATE TABLE invoices (
    invoice_id    text PRIMARY KEY,  -- the ERP's document id
    customer_id   text    NOT NULL,
    number        text    NOT NULL,
    currency      text    NOT NULL,
    net           numeric NOT NULL,
    tax           numeric NOT NULL,
    total         numeric NOT NULL,
    issue_date    date    NOT NULL,
    terms         jsonb   NOT NULL,
    order_ref     text,
    erp_reference text,
    revision      integer NOT NULL,
    paid          numeric NOT NULL DEFAULT 0,
    credited      numeric NOT NULL DEFAULT 0,
    discounted    numeric NOT NULL DEFAULT 0,
    written_off   numeric NOT NULL DEFAULT 0,
    recovered     numeric NOT NULL DEFAULT 0,
    disputed      numeric NOT NULL DEFAULT 0,
    open          numeric NOT NULL,
    settled_on    date,
    recorded_on   date    NOT NULL
);
CREATE INDEX invoices_customer ON invoices (customer_id, issue_date, number);
CREATE INDEX invoices_open ON invoices (customer_id) WHERE open > 0;

-- One row per due date of an invoice; aging and the overdue sweep read the open ones.
CREATE TABLE instalments (
    invoice_id     text    NOT NULL,
    seq            integer NOT NULL,
    customer_id    text    NOT NULL,
    currency       text    NOT NULL,
    issue_date     date    NOT NULL,
    due_date       date    NOT NULL,
    amount         numeric NOT NULL,
    open           numeric NOT NULL,
    overdue_bucket integer NOT NULL DEFAULT 0,
    PRIMARY KEY (invoice_id, seq)
);
CREATE INDEX instalments_open_by_due ON instalments (due_date) INCLUDE (customer_id, currency, issue_date, open)
    WHERE open > 0;
CREATE INDEX instalments_open_by_customer ON instalments (customer_id) WHERE open > 0;

CREATE TABLE payments (
    payment_id      text PRIMARY KEY,
    customer_id     text    NOT NULL,
    currency        text    NOT NULL,
    amount          numeric NOT NULL,
    value_date      date    NOT NULL,
    method          text    NOT NULL,
    payer_reference text,
    unallocated     numeric NOT NULL,
    remainder_as    text,
    reversed        boolean NOT NULL DEFAULT false,
    recorded_on     date    NOT NULL
);
CREATE INDEX payments_customer ON payments (customer_id, value_date);

CREATE TABLE credit_notes (
    credit_note_id text PRIMARY KEY,
    customer_id    text    NOT NULL,
    number         text    NOT NULL,
    currency       text    NOT NULL,
    amount         numeric NOT NULL,
    unallocated    numeric NOT NULL,
    reason         text    NOT NULL,
    invoice_id     text,
    issue_date     date    NOT NULL
);
CREATE INDEX credit_notes_customer ON credit_notes (customer_id);

CREATE TABLE disputes (
    dispute_id  text PRIMARY KEY,
    customer_id text    NOT NULL,
    invoice_id  text    NOT NULL,
    currency    text    NOT NULL,
    amount      numeric NOT NULL,
    reason      text    NOT NULL,
    owner       text    NOT NULL,
    opened_on   date    NOT NULL,
    outcome     text,
    credited    numeric,
    note        text,
    resolved_by text,
    resolved_on date
);
CREATE INDEX disputes_customer ON disputes (customer_id);

-- Every movement of a customer's balance, in the order the ledger recorded it.
CREATE TABLE movements (
    customer_id text    NOT NULL,
    version     integer NOT NULL,
    line        integer NOT NULL,
    entry_date  date    NOT NULL,
    recorded_on date    NOT NULL,
    kind        text    NOT NULL,
    reference   text    NOT NULL,
    invoice_id  text,
    currency    text    NOT NULL,
    amount      numeric NOT NULL,  -- positive raises what the customer owes
    description text    NOT NULL,
    PRIMARY KEY (customer_id, version, line)
);

CREATE TABLE statements (
    statement_id   text PRIMARY KEY,
    customer_id    text  NOT NULL,
    period_start   date  NOT NULL,
    period_end     date  NOT NULL,
    ledger_version integer NOT NULL,
    closing        jsonb NOT NULL,
    digest         text  NOT NULL,
    issued_on      date  NOT NULL,
    status         text  NOT NULL DEFAULT 'issued',  -- issued, confirmed, disputed
    answer         jsonb
);
CREATE INDEX statements_customer ON statements (customer_id, period_end);

CREATE TABLE fx_rates (
    currency      text    NOT NULL,
    rate_date     date    NOT NULL,
    base_currency text    NOT NULL,
    rate          numeric NOT NULL,
    recorded_on   date    NOT NULL,
    PRIMARY KEY (currency, rate_date)
);
