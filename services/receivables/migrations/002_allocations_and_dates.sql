-- Every allocation that stands, summed per source, invoice, business date and whether it was
-- made by hand; withdrawn allocations are taken out again.
CREATE TABLE allocations (
    customer_id text    NOT NULL,
    source_id   text    NOT NULL,  -- a payment or a credit note
    source      text    NOT NULL CHECK (source IN ('payment', 'credit_note')),
    invoice_id  text    NOT NULL,
    entry_date  date    NOT NULL,  -- the business date it counts from
    by_hand     boolean NOT NULL,
    currency    text    NOT NULL,
    amount      numeric NOT NULL,
    discount    numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (source_id, invoice_id, entry_date, by_hand)
);
CREATE INDEX allocations_customer ON allocations (customer_id);
CREATE INDEX allocations_invoice ON allocations (invoice_id);

-- The latest business date any effect on the account counts from: reports of today come from
-- the read model only when nothing counts from later.
ALTER TABLE accounts ADD COLUMN latest_entry date;

ALTER TABLE payments ADD COLUMN refunded numeric NOT NULL DEFAULT 0;
ALTER TABLE credit_notes ADD COLUMN refunded numeric NOT NULL DEFAULT 0;
ALTER TABLE credit_notes ADD COLUMN dispute_id text;

CREATE TABLE refunds (
    refund_id   text PRIMARY KEY,
    customer_id text    NOT NULL,
    source_id   text    NOT NULL,
    currency    text    NOT NULL,
    amount      numeric NOT NULL,
    method      text    NOT NULL,
    reference   text,
    refunded_by text    NOT NULL,
    entry_date  date    NOT NULL
);
CREATE INDEX refunds_customer ON refunds (customer_id);

ALTER TABLE fx_rates ADD COLUMN recorded_by text;
ALTER TABLE fx_rates ADD COLUMN confirmed_by text;
CREATE TABLE fx_rate_proposals (
    proposal_id    text PRIMARY KEY,
    currency       text    NOT NULL,
    base_currency  text    NOT NULL,
    rate           numeric NOT NULL,
    rate_date      date    NOT NULL,
    previous_rate  numeric NOT NULL,
    change_percent numeric NOT NULL,
    proposed_by    text    NOT NULL,
    proposed_on    date    NOT NULL,
    confirmed_by   text,
    status         text    NOT NULL DEFAULT 'waiting'  -- waiting, confirmed
);


-- A statement's PDF never changes once rendered: it is kept.
CREATE TABLE statement_pdfs (
    statement_id text PRIMARY KEY,
    pdf          bytea       NOT NULL,
    rendered_at  timestamptz NOT NULL DEFAULT now()
);
